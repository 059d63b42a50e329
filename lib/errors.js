'use strict';
// The error classes of @neolith/orchestrator-router (the deployed service's three, with its names,
// codes, status codes and messages, and InvalidArgumentError), built on the package's own base or
// on a host's (`errorBase`: @neolith/core's GenesisError), and the mapping from the binding's
// error codes to them.

/** Marks every error the router raises with its code, whichever base its class was built on. */
const CODE = Symbol.for('@neolith/orchestrator-router:code');

/**
 * Neolith's base error shape: `message`, `code`, `statusCode`, optional `metadata`, `name`, and
 * `toJSON()` as @neolith/core's GenesisError has them.
 */
class RouterBaseError extends Error {
  constructor(message, code, statusCode = 500, metadata) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.statusCode = statusCode;
    if (metadata !== undefined) this.metadata = metadata;
    Error.captureStackTrace(this, new.target);
  }

  /** `{ name, message, code, statusCode, metadata }`, as `JSON.stringify` and loggers read it. */
  toJSON() {
    return { name: this.name, message: this.message, code: this.code, statusCode: this.statusCode, metadata: this.metadata };
  }

  /**
   * `error instanceof` one of the package's classes also holds for the same error raised in a
   * host's hierarchy (a router built with `errorBase`), so either import can be used to catch it.
   */
  static [Symbol.hasInstance](value) {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
    const code = value[CODE];
    return code !== undefined && (this === RouterBaseError || this.code === code);
  }
}

/** Builds the five error classes on `Base`, constructed as `new Base(message, code, statusCode, metadata)`. */
function defineClasses(Base) {
  /** A routing failure: code `ORCHESTRATOR_ROUTING_ERROR`, status 500. */
  class OrchestratorRoutingError extends Base {
    static code = 'ORCHESTRATOR_ROUTING_ERROR';

    constructor(message, metadata) {
      super(message, OrchestratorRoutingError.code, 500, metadata);
      this.name = 'OrchestratorRoutingError';
      brand(this, OrchestratorRoutingError.code);
    }
  }

  /** The orchestrator is not online: code `ORCHESTRATOR_OFFLINE`, status 503. */
  class OrchestratorOfflineError extends Base {
    static code = 'ORCHESTRATOR_OFFLINE';

    constructor(orchestratorId) {
      super(`Orchestrator is offline: ${orchestratorId}`, OrchestratorOfflineError.code, 503, { orchestratorId });
      this.name = 'OrchestratorOfflineError';
      brand(this, OrchestratorOfflineError.code);
    }
  }

  /** The orchestrator has no active daemon session: code `NO_ACTIVE_SESSION`, status 404. */
  class NoActiveSessionError extends Base {
    static code = 'NO_ACTIVE_SESSION';

    constructor(orchestratorId) {
      super(`No active session found for orchestrator: ${orchestratorId}`, NoActiveSessionError.code, 404, { orchestratorId });
      this.name = 'NoActiveSessionError';
      brand(this, NoActiveSessionError.code);
    }
  }

  /** An argument or configuration value was refused before anything was written: code `INVALID_ARGUMENT`, status 400. */
  class InvalidArgumentError extends Base {
    static code = 'INVALID_ARGUMENT';

    constructor(field, problem) {
      super(`Invalid ${field}: ${problem}`, InvalidArgumentError.code, 400, { field });
      this.name = 'InvalidArgumentError';
      brand(this, InvalidArgumentError.code);
    }
  }

  /**
   * With `durability`: the Redis primary has the writes, but fewer replicas than asked confirmed
   * them in time, so they may be lost with the primary: code `NOT_REPLICATED`, status 503.
   */
  class NotReplicatedError extends Base {
    static code = 'NOT_REPLICATED';

    constructor(message, metadata) {
      super(message, NotReplicatedError.code, 503, metadata);
      this.name = 'NotReplicatedError';
      brand(this, NotReplicatedError.code);
    }
  }

  return Object.freeze({ OrchestratorRoutingError, OrchestratorOfflineError, NoActiveSessionError, InvalidArgumentError, NotReplicatedError });
}

/** Marks `error` with its code (non-enumerable), for `instanceof` across bases. */
function brand(error, code) {
  Object.defineProperty(error, CODE, { value: code, enumerable: false });
}

const OWN = defineClasses(RouterBaseError);
const families = new WeakMap([[RouterBaseError, OWN]]);

/**
 * The router's error classes built on `base` (a class constructed as
 * `new base(message, code, statusCode, metadata)`, such as @neolith/core's GenesisError), or the
 * package's own without one. The same base always gives the same classes, so the classes a host
 * exports and the ones its routers raise are one and the same.
 */
function errorClasses(base) {
  if (base === undefined || base === null) return OWN;
  if (typeof base !== 'function' || !(base === Error || base.prototype instanceof Error)) {
    throw new OWN.InvalidArgumentError('errorBase', 'must be a class that extends Error (constructed as new errorBase(message, code, statusCode, metadata))');
  }
  let family = families.get(base);
  if (!family) {
    family = defineClasses(base);
    families.set(base, family);
  }
  return family;
}

/** `error` raised again in `family` when it is one of the package's own errors (else unchanged). */
function adopt(error, family) {
  if (family === OWN || error === null || typeof error !== 'object' || error[CODE] === undefined) return error;
  const base = Object.getPrototypeOf(family.OrchestratorRoutingError);
  if (Function.prototype[Symbol.hasInstance].call(base, error)) return error;
  let adopted;
  switch (error[CODE]) {
    case 'INVALID_ARGUMENT':
      adopted = new family.InvalidArgumentError(error.metadata.field, '');
      break;
    case 'ORCHESTRATOR_OFFLINE':
      adopted = new family.OrchestratorOfflineError(error.metadata.orchestratorId);
      break;
    case 'NO_ACTIVE_SESSION':
      adopted = new family.NoActiveSessionError(error.metadata.orchestratorId);
      break;
    case 'NOT_REPLICATED':
      adopted = new family.NotReplicatedError(error.message, error.metadata);
      break;
    default:
      adopted = new family.OrchestratorRoutingError(error.message, error.metadata);
  }
  adopted.message = error.message;
  adopted.stack = error.stack;
  return adopted;
}

/**
 * The class of each code the binding's errors carry (`RouterError::code` in src/engine/error.rs,
 * listed by the binding's `errorCodes()`). A code not listed here — napi's own, for an argument
 * it could not convert — is a routing error.
 */
const CLASS_OF_CODE = Object.freeze({
  INVALID_ARGUMENT: 'InvalidArgumentError',
  STORE_FAILED: 'OrchestratorRoutingError',
  NOT_REPLICATED: 'NotReplicatedError',
  QUEUE_DISABLED: 'OrchestratorRoutingError',
  QUEUE_FULL: 'OrchestratorRoutingError',
  MESSAGE_SERVICE_FAILED: 'OrchestratorRoutingError',
  CLOSED: 'OrchestratorRoutingError',
  INTERNAL: 'OrchestratorRoutingError',
});

/**
 * Turns a binding error — thrown or rejected (an `Error` with `code` and `field`), or carried in a
 * routing call's result (`{ code, field?, message }`) — into one of `family`'s classes.
 */
function fromNative({ code, field, message }, orchestratorId, family = OWN) {
  if (CLASS_OF_CODE[code] === 'InvalidArgumentError') {
    const err = new family.InvalidArgumentError(field, '');
    err.message = message;
    return err;
  }
  const metadata = orchestratorId ? { orchestratorId } : undefined;
  if (CLASS_OF_CODE[code] === 'NotReplicatedError') return new family.NotReplicatedError(message, metadata);
  return new family.OrchestratorRoutingError(message, metadata);
}

module.exports = {
  RouterBaseError,
  ...OWN,
  errorClasses,
  adopt,
  fromNative,
  CLASS_OF_CODE,
};
