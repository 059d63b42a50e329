// Core's MessageServiceImpl (`services/message-service.ts`) as far as the router meets it: the
// method shapes are core's — `getMessage(id)` answers one message or null, `getMessages(channelId,
// options)` answers a page of a channel (not a look-up by ids), deleting is a soft delete.
import { prisma, type PrismaClient } from '@neolith/database';

import type { MessageQueryOptions, MessageWithRelations, PaginatedMessages } from '../types/message';

/** Core's message service. */
export class MessageServiceImpl {
  private readonly db: PrismaClient;

  constructor(database?: PrismaClient) {
    this.db = database ?? prisma;
  }

  /** Sends a message to a channel. */
  async sendMessage(data: { channelId: string; authorId: string; content: string }): Promise<MessageWithRelations> {
    const row = await this.db.message.create({ data, include: { author: true, reactions: true, parent: true } });
    return row as MessageWithRelations;
  }

  /** One message with its relations, or null. */
  async getMessage(id: string): Promise<MessageWithRelations | null> {
    const row = await this.db.message.findUnique({ where: { id }, include: { author: true, reactions: true, parent: true, replies: { take: 5 } } });
    return row as MessageWithRelations | null;
  }

  /** A page of a channel's top-level messages. */
  async getMessages(channelId: string, options: MessageQueryOptions = {}): Promise<PaginatedMessages> {
    const rows = await this.db.message.findMany({
      where: { channelId, ...(!options.includeDeleted && { isDeleted: false }) },
      include: { author: true, reactions: true },
      take: (options.limit ?? 50) + 1,
    });
    const data = rows.slice(0, options.limit ?? 50) as MessageWithRelations[];
    return { data, total: data.length, hasMore: rows.length > data.length, nextCursor: data.at(-1)?.id };
  }

  /** Edits a message's content. */
  async updateMessage(id: string, content: string): Promise<MessageWithRelations> {
    const row = await this.db.message.update({ where: { id }, data: { content, isEdited: true, editedAt: new Date() } });
    return row as MessageWithRelations;
  }

  /** Core's soft delete: the row stays, flagged, with its content replaced. */
  async softDeleteMessage(id: string): Promise<MessageWithRelations> {
    const row = await this.db.message.update({ where: { id }, data: { isDeleted: true, content: '[Message deleted]' } });
    return row as MessageWithRelations;
  }
}

/** Creates a message service over a database client (core's singleton by default). */
export function createMessageService(database?: PrismaClient): MessageServiceImpl {
  return new MessageServiceImpl(database);
}
