/**
 * The Python side of the pyfunc driver, run as `python3 -u -c RUNNER <handler dir>`: it
 * reads one JSON request per line on fd 3 and writes one JSON reply per line on fd 4, so
 * whatever a handler prints never mixes with the protocol.
 *
 * Each call is made as EventReactor's PythonFuncDriver made it: the handler directory is
 * on `sys.path` (appended), the module imported by name, the function called with the
 * event as a dict. The dict (and every dict in it) has Python 2's `has_key`, which
 * EventReactor's sample handlers call. Around a call, `os.environ` is the run's
 * environment, and the call's prints and logging (root logger, INFO, as EventReactor
 * configured it) are kept (the last 4 KiB) for the result's `stderr`. A module whose file
 * changed is reloaded. A module must be the file the driver found in the handler
 * directory: a name that imports something else (a standard module) is refused.
 *
 * Requests: `{"id", "module", "file", "mtime", "fn", "event", "env"}`. Replies:
 * `{"id", "json", "output"}` (the return value's JSON), `{"id", "unserialisable",
 * "output"}`, `{"id", "error", "traceback", "output"}`, or `{"id", "refused"}`.
 */
export const PYFUNC_RUNNER = String.raw`
import sys
# python -c puts the working directory (the handler directory) first on sys.path: a
# handler module named json.py must not replace the json module the runner uses.
sys.path[:] = [p for p in sys.path if p not in ('', '.')]
import io, json, os, importlib, logging, traceback

sys.dont_write_bytecode = True
HANDLERS_DIR = sys.argv[1]
if HANDLERS_DIR not in sys.path:
    sys.path.append(HANDLERS_DIR)
REQUESTS = os.fdopen(3, 'r', encoding='utf-8')
REPLIES = os.fdopen(4, 'w', encoding='utf-8')
OUTPUT_TAIL = 4096


class EventDict(dict):
    def has_key(self, key):
        return key in self


class Tail(io.TextIOBase):
    def __init__(self):
        self.parts = []
        self.size = 0

    def writable(self):
        return True

    def write(self, s):
        self.parts.append(s)
        self.size += len(s)
        while self.size > 2 * OUTPUT_TAIL and len(self.parts) > 1:
            self.size -= len(self.parts.pop(0))
        return len(s)

    def text(self):
        return ''.join(self.parts)[-OUTPUT_TAIL:]


LOG_HANDLER = logging.StreamHandler(sys.__stderr__)
LOG_HANDLER.setFormatter(logging.Formatter('%(levelname)s %(name)s: %(message)s'))
logging.getLogger().addHandler(LOG_HANDLER)
logging.getLogger().setLevel(logging.INFO)

MODULES = {}


class Refused(Exception):
    pass


def load(name, file, mtime):
    hit = MODULES.get(name)
    if hit is not None and hit[0] == mtime:
        return hit[1]
    module = importlib.reload(hit[1]) if hit is not None else importlib.import_module(name)
    found = os.path.realpath(getattr(module, '__file__', None) or '')
    if found != file:
        raise Refused('module "%s" imports %s, not %s in the handler directory: rename the handler module' % (name, found or 'a built-in module', file))
    MODULES[name] = (mtime, module)
    return module


def call(req):
    tail = Tail()
    os.environ.clear()
    os.environ.update(req['env'])
    sys.stdout = sys.stderr = tail
    LOG_HANDLER.setStream(tail)
    try:
        try:
            module = load(req['module'], req['file'], req['mtime'])
        except Refused as e:
            return {'refused': str(e)}
        fn = getattr(module, req['fn'], None)
        if not callable(fn):
            return {'refused': 'module %s has no function %s' % (req['module'], req['fn'])}
        event = json.loads(json.dumps(req['event']), object_hook=EventDict)
        try:
            value = fn(event)
        except BaseException as e:
            return {'error': '%s: %s' % (type(e).__name__, e), 'traceback': traceback.format_exc(), 'output': tail.text()}
        try:
            return {'json': json.dumps(value, ensure_ascii=False), 'output': tail.text()}
        except (TypeError, ValueError) as e:
            return {'unserialisable': str(e), 'output': tail.text()}
    except BaseException as e:
        return {'error': '%s: %s' % (type(e).__name__, e), 'traceback': traceback.format_exc(), 'output': tail.text()}
    finally:
        sys.stdout = sys.__stdout__
        sys.stderr = sys.__stderr__
        LOG_HANDLER.setStream(sys.__stderr__)


for line in REQUESTS:
    req = json.loads(line)
    reply = call(req)
    reply['id'] = req['id']
    REPLIES.write(json.dumps(reply) + '\n')
    REPLIES.flush()
`;
