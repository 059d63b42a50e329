'use strict';
// How a drain re-reads queued messages just before delivering them: through a message service
// (`getMessage(id)`, or a batch `getMessagesByIds(ids)`) or a Prisma client
// (`prisma.message.findMany`). Each becomes one function the binding calls with a drain step's ids
// (as JSON) and that answers, in the same order, each message's current form or null (gone or
// deleted: dropped). An answer that is neither is an error: the drain leaves the messages queued.

const { describe } = require('./arguments');

/** Whether the message was deleted: Neolith soft-deletes (`isDeleted`); a `deletedAt` counts too. */
function isDeleted(message) {
  return message.isDeleted === true || (message.deletedAt !== undefined && message.deletedAt !== null);
}

/**
 * A looked-up message as the binding takes it: `{ content, channelId?, authorId?, createdAt? }`,
 * or null when it is gone (`null`/`undefined`) or deleted. Throws for anything else, naming `source`.
 */
function currentForm(message, source) {
  if (message === null || message === undefined) return null;
  if (typeof message !== 'object' || Array.isArray(message)) {
    throw new Error(`${source} answered ${describe(message)}, not a message or null`);
  }
  if (isDeleted(message)) return null;
  if (typeof message.content !== 'string') {
    throw new Error(`${source} answered a message whose content is ${describe(message.content)}, not a string`);
  }
  let createdAt;
  if (message.createdAt !== undefined && message.createdAt !== null) {
    const ms = message.createdAt instanceof Date ? message.createdAt.getTime() : new Date(message.createdAt).getTime();
    if (Number.isFinite(ms)) createdAt = ms;
  }
  return {
    content: message.content,
    channelId: typeof message.channelId === 'string' ? message.channelId : undefined,
    authorId: typeof message.authorId === 'string' ? message.authorId : undefined,
    createdAt,
  };
}

/** Matches a batch answer (any order, missing ids left out) to `ids`. */
function byId(ids, list, source) {
  if (!Array.isArray(list)) throw new Error(`${source} answered ${describe(list)}, not an array of messages`);
  const found = new Map();
  for (const message of list) {
    if (message !== null && typeof message === 'object' && typeof message.id === 'string') found.set(message.id, message);
  }
  return ids.map((id) => currentForm(found.get(id), source));
}

/** Calls `call()`, turning its failure into an error that names `source`. */
async function asking(source, call) {
  try {
    return await call();
  } catch (error) {
    throw new Error(`${source} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The look-up through a message service: `getMessagesByIds(ids)` when it has it, else `getMessage(id)` per id. */
function serviceLookup(service) {
  if (typeof service.getMessagesByIds === 'function') {
    const source = 'messageService.getMessagesByIds(ids)';
    return async (ids) => byId(ids, await asking(source, () => service.getMessagesByIds(ids)), source);
  }
  return async (ids) => {
    const sources = ids.map((id) => `messageService.getMessage(${JSON.stringify(id)})`);
    const found = await Promise.all(ids.map((id, i) => asking(sources[i], () => service.getMessage(id))));
    return found.map((message, i) => currentForm(message, sources[i]));
  };
}

/** The look-up through a Prisma client: one `message.findMany` per drain step. */
function prismaLookup(prisma) {
  const source = 'prisma.message.findMany';
  return async (ids) => byId(ids, await asking(source, () => prisma.message.findMany({ where: { id: { in: ids } } })), source);
}

/** Whether `service` can be a message service: `getMessage(id)` or `getMessagesByIds(ids)`. */
function isMessageService(service) {
  return service !== null && typeof service === 'object' && (typeof service.getMessage === 'function' || typeof service.getMessagesByIds === 'function');
}

/** Whether `prisma` is a Prisma client with the `message` model. */
function isPrismaClient(prisma) {
  return prisma !== null && typeof prisma === 'object' && prisma.message !== null && typeof prisma.message === 'object' && typeof prisma.message.findMany === 'function';
}

/** Wraps a look-up as the function the binding calls: ids as JSON in, the answers as JSON out. */
function forBinding(lookup) {
  return async (idsJson) => JSON.stringify(await lookup(JSON.parse(idsJson)));
}

module.exports = { serviceLookup, prismaLookup, isMessageService, isPrismaClient, forBinding };
