/** IPC messages between router-throughput.ts and its sender and receiver processes. */

/** Parent -> sender: stop probing, send the counted load now. */
export interface GoMessage {
  type: 'go';
}

/** Sender -> parent: the load has been handed to ZeroMQ. */
export interface SentMessage {
  type: 'sent';
  sent: number;
  ms: number;
}

/** Parent -> sender: the receiver has reported; close and exit. */
export interface StopMessage {
  type: 'stop';
}

/** Receiver -> parent: SUB socket connected (probes may not arrive yet). */
export interface ListeningMessage {
  type: 'listening';
}

/** Receiver -> parent: the first probe arrived, so the subscription reached the PUB socket. */
export interface SubscribedMessage {
  type: 'subscribed';
}

/** Parent -> receiver: the sender is done; report after `idleMs` without load messages. */
export interface SenderDoneMessage {
  type: 'sender-done';
  idleMs: number;
}

/** Receiver -> parent: what arrived, timed by the receiver's clock. */
export interface ReceivedMessage {
  type: 'received';
  received: number;
  /** ms from the first to the last load message. */
  spanMs: number;
}
