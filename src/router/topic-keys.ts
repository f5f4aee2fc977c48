import { eventKey } from '../event/event.js';

/** Keys kept before the cache starts afresh: bounds memory when event types are many. */
const MAX_KEYS = 4096;

/**
 * The PUB topic frame, `namespace:event_type` as UTF-8, kept per namespace and event
 * type: a feed sends few distinct types. zeromq.js copies a small Buffer straight into
 * the message (inline, up to 33 bytes), where a string is first converted to UTF-8 in a
 * heap-allocated std::string on every send.
 */
export class TopicKeys {
  readonly #byNamespace = new Map<string, Map<string, Buffer>>();
  #size = 0;

  key(e: { namespace: string; event_type: string }): Buffer {
    let types = this.#byNamespace.get(e.namespace);
    let key = types?.get(e.event_type);
    if (key !== undefined) return key;
    if (this.#size >= MAX_KEYS) {
      this.#byNamespace.clear();
      this.#size = 0;
      types = undefined;
    }
    if (!types) {
      types = new Map();
      this.#byNamespace.set(e.namespace, types);
    }
    key = Buffer.from(eventKey(e));
    types.set(e.event_type, key);
    this.#size++;
    return key;
  }
}
