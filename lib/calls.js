'use strict';
// The routing calls of one router in flight: each call's promise, settled when the binding hands
// over its result, and the hold that keeps the Node process alive while any call is in flight.

/**
 * Routing calls in flight. `onHold(held)` is told when the process must be kept alive (a call
 * starts with none in flight) and when it may exit again (none left a turn later).
 */
class CallRegistry {
  constructor(onHold) {
    this._onHold = onHold;
    this._calls = new Map();
    this._seq = 0;
    this._held = false;
    this._releasing = false;
  }

  /**
   * Starts a call for `orchestratorId`: `begin(id)` hands it to the binding; what it throws (a
   * call the binding refused outright) rejects the call's promise.
   */
  start(orchestratorId, begin) {
    const id = (this._seq = (this._seq + 1) >>> 0);
    return new Promise((resolve, reject) => {
      this._hold();
      this._calls.set(id, { resolve, reject, orchestratorId });
      try {
        begin(id);
      } catch (error) {
        this._calls.delete(id);
        this._releaseSoon();
        reject(error);
      }
    });
  }

  /**
   * Settles finished calls from the binding's `[id, value]` / `[id, null, error]` results;
   * `toError(error, orchestratorId)` makes each error the caller's.
   */
  settle(results, toError) {
    for (const [id, value, error] of results) {
      const call = this._calls.get(id);
      if (!call) continue;
      this._calls.delete(id);
      if (error) call.reject(toError(error, call.orchestratorId));
      else call.resolve(value);
    }
    this._releaseSoon();
  }

  /** Resolves once every call in flight now has settled. */
  settled() {
    return Promise.all([...this._calls.values()].map((call) => new Promise((done) => {
      const { resolve, reject } = call;
      call.resolve = (value) => { resolve(value); done(); };
      call.reject = (error) => { reject(error); done(); };
    })));
  }

  _hold() {
    if (this._held) return;
    this._held = true;
    this._onHold(true);
  }

  /**
   * Lets the process exit once no call is in flight, but not between two calls in a row: a caller
   * awaiting one route after another would otherwise toggle the hold (two crossings) every time.
   */
  _releaseSoon() {
    if (this._calls.size === 0 && this._held && !this._releasing) {
      this._releasing = true;
      setImmediate(() => this._release());
    }
  }

  _release() {
    this._releasing = false;
    if (this._calls.size > 0 || !this._held) return;
    this._held = false;
    this._onHold(false);
  }
}

module.exports = { CallRegistry };
