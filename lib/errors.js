'use strict';
// The error classes of @neolith/orchestrator-router (the deployed service's three, with its names,
// codes, status codes and messages, and InvalidArgumentError), and the mapping from the binding's
// `{ code, field?, message }` errors to them.

/** Neolith's base error shape: `message`, `code`, `statusCode`, optional `metadata`, `name`. */
class RouterBaseError extends Error {
  constructor(message, code, statusCode, metadata) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.statusCode = statusCode;
    if (metadata !== undefined) this.metadata = metadata;
  }
}

/** A routing failure. */
class OrchestratorRoutingError extends RouterBaseError {
  constructor(message, metadata) {
    super(message, 'ORCHESTRATOR_ROUTING_ERROR', 500, metadata);
  }
}

/** The orchestrator is not online. */
class OrchestratorOfflineError extends RouterBaseError {
  constructor(orchestratorId) {
    super(`Orchestrator is offline: ${orchestratorId}`, 'ORCHESTRATOR_OFFLINE', 503, { orchestratorId });
  }
}

/** The orchestrator has no active daemon session. */
class NoActiveSessionError extends RouterBaseError {
  constructor(orchestratorId) {
    super(`No active session found for orchestrator: ${orchestratorId}`, 'NO_ACTIVE_SESSION', 404, { orchestratorId });
  }
}

/** An argument or configuration value was refused before anything was written. */
class InvalidArgumentError extends RouterBaseError {
  constructor(field, problem) {
    super(`Invalid ${field}: ${problem}`, 'INVALID_ARGUMENT', 400, { field });
  }
}

/** Turns a binding error (`{ code, field?, message }`) into one of the error classes. */
function errorFrom(parsed, orchestratorId) {
  if (parsed.code === 'INVALID_ARGUMENT') {
    const err = new InvalidArgumentError(parsed.field, '');
    err.message = parsed.message;
    return err;
  }
  return new OrchestratorRoutingError(parsed.message, orchestratorId ? { orchestratorId } : undefined);
}

/** Turns an error thrown by the binding (its message is the JSON of `errorFrom`'s argument). */
function fromNative(error, orchestratorId) {
  let parsed;
  try {
    parsed = JSON.parse(error.message);
  } catch {
    return new OrchestratorRoutingError(error.message, orchestratorId ? { orchestratorId } : undefined);
  }
  return errorFrom(parsed, orchestratorId);
}

module.exports = {
  RouterBaseError,
  OrchestratorRoutingError,
  OrchestratorOfflineError,
  NoActiveSessionError,
  InvalidArgumentError,
  errorFrom,
  fromNative,
};
