// Stands in for `@neolith/database` (core's Prisma client, which needs a generated client and a
// PostgreSQL it cannot reach here): a `prisma` whose `message` delegate has the method shapes of
// Prisma's, over messages kept in memory. Every call is logged, so tests can count queries.

/** A row of Neolith's `messages` table, as Prisma's generated `message` type has it. */
export interface Message {
  id: string;
  content: string;
  type: 'TEXT' | 'SYSTEM' | 'FILE';
  metadata: Record<string, unknown>;
  isEdited: boolean;
  isDeleted: boolean;
  editedAt: Date | null;
  deletedAt: Date | null;
  channelId: string;
  authorId: string;
  parentId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A user row, as far as a message's `author` relation needs it. */
export interface User {
  id: string;
  name: string | null;
}

/** A reaction row. */
export interface Reaction {
  id: string;
  emoji: string;
  userId: string;
  messageId: string;
}

type MessageWhereUnique = { id: string };
type MessageWhere = { id?: string | { in: string[] }; channelId?: string; isDeleted?: boolean };
type Include = { author?: boolean; reactions?: boolean; parent?: boolean; replies?: unknown };
type Row = Message & { author?: User; reactions?: Reaction[]; parent?: Message | null };

/** Where the stand-in keeps its rows, and what was asked of it. */
export const store = {
  messages: new Map<string, Message>(),
  users: new Map<string, User>(),
  /** One entry per delegate call: the method and its arguments. */
  calls: [] as Array<{ method: string; args: unknown }>,
  /** When set, every call rejects with it (a database that is down). */
  failure: null as Error | null,
};

function matches(row: Message, where: MessageWhere): boolean {
  if (typeof where.id === 'string' && row.id !== where.id) return false;
  if (typeof where.id === 'object' && !where.id.in.includes(row.id)) return false;
  if (where.channelId !== undefined && row.channelId !== where.channelId) return false;
  if (where.isDeleted !== undefined && row.isDeleted !== where.isDeleted) return false;
  return true;
}

function withRelations(row: Message, include: Include | undefined): Row {
  const result: Row = { ...row };
  if (include?.author) result.author = store.users.get(row.authorId) ?? { id: row.authorId, name: null };
  if (include?.reactions) result.reactions = [];
  if (include?.parent) result.parent = row.parentId ? store.messages.get(row.parentId) ?? null : null;
  return result;
}

async function call<T>(method: string, args: unknown, run: () => T): Promise<T> {
  store.calls.push({ method, args });
  await new Promise((resolve) => setImmediate(resolve));
  if (store.failure) throw store.failure;
  return run();
}

/** Prisma's `message` delegate, as far as core's services and the router use it. */
export interface MessageDelegate {
  findUnique(args: { where: MessageWhereUnique; include?: Include }): Promise<Row | null>;
  findMany(args?: { where?: MessageWhere; include?: Include; take?: number }): Promise<Row[]>;
  create(args: { data: Partial<Message> & Pick<Message, 'content' | 'channelId' | 'authorId'>; include?: Include }): Promise<Row>;
  update(args: { where: MessageWhereUnique; data: Partial<Message>; include?: Include }): Promise<Row>;
}

/** Core's database client type, as far as this stand-in has it. */
export interface PrismaClient {
  message: MessageDelegate;
}

let sequence = 0;

/** Core's singleton database client. */
export const prisma: PrismaClient = {
  message: {
    findUnique: (args) =>
      call('findUnique', args, () => {
        const row = store.messages.get(args.where.id);
        return row ? withRelations(row, args.include) : null;
      }),
    findMany: (args = {}) =>
      call('findMany', args, () =>
        [...store.messages.values()].filter((row) => matches(row, args.where ?? {})).slice(0, args.take).map((row) => withRelations(row, args.include)),
      ),
    create: (args) =>
      call('create', args, () => {
        const now = new Date();
        const row: Message = {
          id: args.data.id ?? `msg_${++sequence}_${now.getTime()}`,
          type: 'TEXT',
          metadata: {},
          isEdited: false,
          isDeleted: false,
          editedAt: null,
          deletedAt: null,
          parentId: null,
          createdAt: now,
          updatedAt: now,
          ...args.data,
        };
        store.messages.set(row.id, row);
        return withRelations(row, args.include);
      }),
    update: (args) =>
      call('update', args, () => {
        const row = store.messages.get(args.where.id);
        if (!row) throw new Error(`No message found for id ${args.where.id}`);
        const updated = { ...row, ...args.data, updatedAt: new Date() };
        store.messages.set(row.id, updated);
        return withRelations(updated, args.include);
      }),
  },
};
