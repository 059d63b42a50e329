// Types of the ES module entry (index.mjs): the CommonJS entry's, by name and as the default.
import * as router from './index.js';

export * from './index.js';
export default router;
