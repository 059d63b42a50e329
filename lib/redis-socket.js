'use strict';
// The Node socket that carries a router's routes to Redis. The binding packs the commands and
// reads the replies (src/store/pipe.rs); this only moves the bytes, so that a route's round trip
// needs no thread but the JavaScript one.

const net = require('node:net');

// Every routes' socket of a thread reads into one buffer of this size, reused for every read: each
// read is handed to the binding (which copies what it keeps) before the next read of any socket
// of this thread, so the routers of a thread can share it. (A buffer per router cost 256 KB each,
// held until the garbage collector ran.)
const READ_BUFFER_BYTES = 256 * 1024;
let readBuffer = null;

/**
 * One connection at a time to the binding's pipe target (`{ host, port }` or `{ path }`, with
 * `silenceMs`), opened when there is something to write. `target()` is asked at each opening: it
 * moves with the primary of a Sentinel target. `onData(bytes)` gets each read (valid only during
 * the call); `onClose(reason)` is called when the open connection ends by itself.
 */
class RedisSocket {
  constructor(target, { onData, onClose }) {
    this._targetOf = target;
    this._target = target();
    this._onData = onData;
    this._onClose = onClose;
    this._socket = null;
    this._silence = null;
    this._held = false;
  }

  /** Whether a connection is open (or opening). */
  get isOpen() {
    return this._socket !== null;
  }

  /** Opens a connection; the caller then writes its opening commands ahead of the rest. */
  open() {
    const target = (this._target = this._targetOf());
    // Replies are read into one reused buffer and handed straight on (`onread`), bypassing the
    // stream machinery and a Buffer per read.
    if (readBuffer === null) readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    let socket;
    const onread = {
      buffer: readBuffer,
      callback: (length, buffer) => {
        if (this._socket !== socket) return;
        if (this._silence !== null) this._silence.refresh();
        this._onData(buffer.subarray(0, length));
      },
    };
    socket = target.path ? net.connect({ path: target.path, onread }) : net.connect({ port: target.port, host: target.host, onread });
    socket.setNoDelay(true);
    if (!this._held) socket.unref();
    this._socket = socket;
    let failure = null;
    socket.on('error', (error) => {
      failure = error;
    });
    socket.on('close', () => {
      if (this._socket !== socket) return;
      this._forget();
      this._onClose(failure ? `Redis connection failed: ${failure.message}` : 'the Redis connection closed');
    });
  }

  write(bytes) {
    this._socket.write(bytes);
  }

  /**
   * While requests wait for replies (`awaiting`), a connection that reads nothing for `silenceMs`
   * is taken for dead (a peer that vanished without a reset): closing it fails them, and their
   * retries open a new one. Not `socket.setTimeout`: it counts writes as activity, so a peer that
   * stopped answering while routes keep writing would never be taken for dead.
   */
  watch(awaiting) {
    if (awaiting && this._socket !== null && this._silence === null) {
      const socket = this._socket;
      this._silence = setTimeout(() => {
        this._silence = null;
        socket.destroy(new Error(`no reply from Redis within ${this._target.silenceMs} ms`));
      }, this._target.silenceMs);
      this._silence.unref();
    } else if ((!awaiting || this._socket === null) && this._silence !== null) {
      clearTimeout(this._silence);
      this._silence = null;
    }
  }

  /** Keeps the process alive while the connection is open (`true`), or lets it exit. */
  hold(held) {
    this._held = held;
    if (this._socket === null) return;
    if (held) this._socket.ref();
    else this._socket.unref();
  }

  /** Closes the connection without reporting it (what waited on it has failed already). */
  drop() {
    const socket = this._socket;
    this._forget();
    if (socket) socket.destroy();
  }

  _forget() {
    this._socket = null;
    this.watch(false);
  }
}

module.exports = { RedisSocket };
