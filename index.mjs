// The ES module entry of @neolith/orchestrator-router: the same exports as the CommonJS entry
// (index.js), by name, and that module object as the default export.
import cjs from './index.js';

export const {
  OrchestratorRouter,
  createOrchestratorRouter,
  OrchestratorRoutingError,
  OrchestratorOfflineError,
  NoActiveSessionError,
  InvalidArgumentError,
  NotReplicatedError,
  RouterBaseError,
  errorClasses,
  EVENT_NAMES,
  PRIORITY_VALUES,
} = cjs;

/**
 * The deployed module's default instance. An ES module cannot export a binding that is built on
 * first access, so this stands in for it: the CommonJS entry's instance is built (and connects)
 * only when a property of this one is first used. It is not that instance itself: methods that
 * return `this` (`on`, `getEventEmitter`) return the real one.
 */
export const orchestratorRouter = new Proxy(Object.create(OrchestratorRouter.prototype), {
  get(_target, property) {
    // Not a thenable: awaiting or returning it from an async function must not build the instance.
    if (property === 'then') return undefined;
    const router = cjs.orchestratorRouter;
    const value = Reflect.get(router, property, router);
    return typeof value === 'function' ? value.bind(router) : value;
  },
  set(_target, property, value) {
    return Reflect.set(cjs.orchestratorRouter, property, value);
  },
  has(_target, property) {
    return property in cjs.orchestratorRouter;
  },
});

export default cjs;
