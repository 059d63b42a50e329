'use strict';
// The message service as a drain sees it: one function that re-reads queued messages by id.

/** Normalises a message service's answer into `{ content, channelId?, authorId?, createdAt? } | null`. */
function currentForm(message) {
  if (message === null || message === undefined || typeof message !== 'object' || message.deletedAt) return null;
  if (typeof message.content !== 'string') return null;
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

/** Builds the function the binding calls to re-read queued messages through a message service. */
function messageFetcher(service) {
  return async (idsJson) => {
    const ids = JSON.parse(idsJson);
    let found;
    if (typeof service.getMessages === 'function') {
      const list = (await service.getMessages(ids)) || [];
      const byId = new Map(list.filter(Boolean).map((m) => [m.id, m]));
      found = ids.map((id) => byId.get(id));
    } else {
      found = await Promise.all(ids.map((id) => service.getMessage(id)));
    }
    return JSON.stringify(found.map(currentForm));
  };
}

module.exports = { messageFetcher };
