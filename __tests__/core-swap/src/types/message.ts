// Core's message types (`packages/@neolith/core/src/types/message.ts`), over the database rows.
import type { Message, Reaction, User } from '@neolith/database';

/** A message with its relations, as core's message service answers it. */
export interface MessageWithRelations extends Message {
  author: User;
  reactions: Reaction[];
  replies?: Message[];
  parent?: Message | null;
  isDeleted: boolean;
  channelId: string;
}

/** Options of `getMessages` (a channel's page). */
export interface MessageQueryOptions {
  limit?: number;
  before?: string;
  includeDeleted?: boolean;
}

/** A page of a channel's messages. */
export interface PaginatedMessages {
  data: MessageWithRelations[];
  total: number;
  hasMore: boolean;
  nextCursor?: string;
}
