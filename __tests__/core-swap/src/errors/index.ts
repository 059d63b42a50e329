// Core's error base as its reference describes it (`packages/@neolith/core/src/errors/index.ts`):
// a GenesisError with code, status and metadata; isGenesisError is `instanceof`; wrapError turns
// anything else into WRAPPED_ERROR / 500. Written for this test from that description.

/** Core's base error. */
export class GenesisError extends Error {
  /** Error code for programmatic handling. */
  public readonly code: string;
  /** HTTP status the API layer answers with. */
  public readonly statusCode: number;
  /** Extra context. */
  public readonly metadata?: Record<string, unknown>;

  constructor(message: string, code: string, statusCode: number = 500, metadata?: Record<string, unknown>) {
    super(message);
    this.name = 'GenesisError';
    this.code = code;
    this.statusCode = statusCode;
    this.metadata = metadata;
    Error.captureStackTrace(this, this.constructor);
  }

  /** The error as JSON. */
  toJSON(): Record<string, unknown> {
    return { name: this.name, message: this.message, code: this.code, statusCode: this.statusCode, metadata: this.metadata };
  }
}

/** Whether `error` is one of core's errors. */
export function isGenesisError(error: unknown): error is GenesisError {
  return error instanceof GenesisError;
}

/** `error` itself when it is a GenesisError, else a GenesisError wrapping it (500). */
export function wrapError(error: unknown, context: string): GenesisError {
  if (isGenesisError(error)) return error;
  if (error instanceof Error) {
    return new GenesisError(`${context}: ${error.message}`, 'WRAPPED_ERROR', 500, { originalError: error.message, context });
  }
  return new GenesisError(`${context}: Unknown error`, 'UNKNOWN_ERROR', 500, { context });
}
