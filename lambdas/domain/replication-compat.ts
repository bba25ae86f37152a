import { hasSqlDetails, parse, parsePlPgSQL } from 'libpg-query';

/**
 * Whether a migration set keeps logical replication working (docs/migrations.md, "Migrations in
 * online mode"). Every statement is read by the real PostgreSQL parser (`libpg-query`), never split
 * by hand, and judged against the tables that replication carries: every table that already
 * exists on blue. A table the set itself creates is not replicated (blue has no such table).
 *
 * - `forward` (online mode): blue streams to the migrated green. Green must accept every row blue
 *   can still write: no drops, renames or type changes of replicated tables or columns, no
 *   NOT NULL without a default. Unique and check constraints are warned: a row blue accepts could
 *   violate them on green, and apply then stops.
 * - `reverse` (failback): after cutover green streams to blue, which never ran the migrations. The
 *   same changes break that stream, and so does any new column or table on green (blue has
 *   nowhere to put its rows).
 *
 * A PL/pgSQL DO block is read with PostgreSQL's PL/pgSQL parser and each statement in it judged
 * like the file's own. What the classifier cannot see, it refuses rather than guesses: EXECUTE
 * (built at run time), a DO block in another language, CALL, a call of a function that is not
 * built in (its statements run unseen), and every statement kind it does not know. Creating a
 * function is fine: its body runs only when called. Tables are matched by name; an unqualified
 * name means `public`.
 */

export interface ReplicationStreams {
  /** Online mode: blue → green, from the clone until switchover. */
  forward: boolean;
  /** Failback: green → blue, from cutover until blue is deleted. */
  reverse: boolean;
}

export interface MigrationText {
  name: string;
  sql: string;
}

export interface CompatFinding {
  file: string;
  /** 1-based line of the statement's first token. */
  line: number;
  /** The statement's beginning, on one line. */
  statement: string;
  /** Why, and what to do instead. */
  reason: string;
}

export interface CompatResult {
  refused: CompatFinding[];
  warned: CompatFinding[];
}

/** `file line N: reason (statement)`, the form every message and the approval email use. */
export function describeFinding(finding: CompatFinding): string {
  return `${finding.file} line ${finding.line}: ${finding.reason} [${finding.statement}]`;
}

type Node = Record<string, unknown>;
interface RangeVar {
  schemaname?: string;
  relname?: string;
  /** `p` permanent, `u` unlogged, `t` temporary. */
  relpersistence?: string;
}
interface Verdict {
  level: 'refuse' | 'warn';
  reason: string;
  /** Where a statement inside a DO block is (else the statement's own line and text). */
  line?: number;
  statement?: string;
}

/** The file line of a byte offset of the statement being classified. */
type LineOf = (byteOffset: number) => number;

const STATEMENT_PREVIEW = 80;

/**
 * Built-in functions a migration may call from a plain SELECT (anything `pg_catalog.`-qualified is
 * built in too). Any other function's body is not visible here, so calling it is refused.
 */
const BUILTIN_FUNCTIONS = new Set(
  [
    'set_config current_setting setval nextval currval pg_get_serial_sequence',
    'to_regclass to_regtype to_regprocedure pg_table_is_visible has_table_privilege current_database',
    'pg_advisory_lock pg_advisory_unlock pg_advisory_xact_lock pg_try_advisory_lock pg_sleep',
    'now clock_timestamp statement_timestamp date_trunc extract age version gen_random_uuid',
    'format quote_ident quote_literal quote_nullable concat concat_ws lower upper length substr substring',
    'replace regexp_replace left right trim btrim abs round',
    'count max min sum avg array_agg string_agg array_length',
    'json_build_object jsonb_build_object pg_relation_size pg_total_relation_size',
  ].flatMap((names) => names.split(' ')),
);

/** Statement kinds that change no replicated table's shape or rows, whatever they name. */
const NEUTRAL = new Set([
  'ViewStmt',
  'CreateFunctionStmt',
  'AlterFunctionStmt',
  'CreateSeqStmt',
  'AlterSeqStmt',
  'CreateEnumStmt',
  'AlterEnumStmt',
  'CompositeTypeStmt',
  'CreateDomainStmt',
  'CreateRangeStmt',
  'DefineStmt',
  'CreatePolicyStmt',
  'AlterPolicyStmt',
  // Triggers do not fire for changes applied by replication (session_replication_role = replica).
  'CreateTrigStmt',
  'CreateStatsStmt',
  'AlterStatsStmt',
  'CommentStmt',
  'GrantStmt',
  'GrantRoleStmt',
  'AlterDefaultPrivilegesStmt',
  'AlterOwnerStmt',
  'CreateRoleStmt',
  'AlterRoleStmt',
  'AlterRoleSetStmt',
  'VariableSetStmt',
  'VariableShowStmt',
  'TransactionStmt',
  'VacuumStmt',
  'RefreshMatViewStmt',
  'ClusterStmt',
  'ReindexStmt',
  'LockStmt',
  'CreateEventTrigStmt',
  'AlterEventTrigStmt',
  'CreateCastStmt',
  'CreateConversionStmt',
  'CreateOpClassStmt',
  'CreateOpFamilyStmt',
  'SecLabelStmt',
  'NotifyStmt',
  'ListenStmt',
  'UnlistenStmt',
  'CheckPointStmt',
  'DiscardStmt',
  'AlterDatabaseSetStmt',
]);

/** ALTER TABLE subcommands that leave the rows replication carries acceptable and the stream intact. */
const NEUTRAL_TABLE_COMMANDS = new Set([
  'AT_DropNotNull',
  'AT_SetStatistics',
  'AT_SetOptions',
  'AT_ResetOptions',
  'AT_SetStorage',
  'AT_SetCompression',
  'AT_SetRelOptions',
  'AT_ResetRelOptions',
  'AT_ReplaceRelOptions',
  'AT_ClusterOn',
  'AT_DropCluster',
  'AT_SetAccessMethod',
  'AT_SetTableSpace',
  'AT_EnableTrig',
  'AT_EnableAlwaysTrig',
  'AT_EnableReplicaTrig',
  'AT_DisableTrig',
  'AT_EnableTrigAll',
  'AT_DisableTrigAll',
  'AT_EnableTrigUser',
  'AT_DisableTrigUser',
  'AT_EnableRowSecurity',
  'AT_DisableRowSecurity',
  'AT_ForceRowSecurity',
  'AT_NoForceRowSecurity',
  'AT_ChangeOwner',
  'AT_DropConstraint',
  'AT_ValidateConstraint',
  'AT_AddIdentity',
  'AT_SetIdentity',
  'AT_DropIdentity',
  'AT_DropExpression',
  'AT_GenericOptions',
]);

/** Objects whose DROP (without CASCADE) touches no replicated table. */
const NEUTRAL_DROPS = new Set([
  'OBJECT_INDEX',
  'OBJECT_VIEW',
  'OBJECT_MATVIEW',
  'OBJECT_FUNCTION',
  'OBJECT_PROCEDURE',
  'OBJECT_ROUTINE',
  'OBJECT_AGGREGATE',
  'OBJECT_TRIGGER',
  'OBJECT_SEQUENCE',
  'OBJECT_TYPE',
  'OBJECT_DOMAIN',
  'OBJECT_POLICY',
  'OBJECT_STATISTIC_EXT',
  'OBJECT_FOREIGN_TABLE',
  'OBJECT_EVENT_TRIGGER',
  'OBJECT_CAST',
  'OBJECT_OPCLASS',
  'OBJECT_OPFAMILY',
  'OBJECT_CONVERSION',
]);

/** Renames of objects replication does not match by name. */
const NEUTRAL_RENAMES = new Set([
  'OBJECT_INDEX',
  'OBJECT_VIEW',
  'OBJECT_MATVIEW',
  'OBJECT_FUNCTION',
  'OBJECT_PROCEDURE',
  'OBJECT_ROUTINE',
  'OBJECT_AGGREGATE',
  'OBJECT_TRIGGER',
  'OBJECT_SEQUENCE',
  'OBJECT_TABCONSTRAINT',
  'OBJECT_DOMCONSTRAINT',
  'OBJECT_POLICY',
  'OBJECT_ROLE',
  'OBJECT_STATISTIC_EXT',
  'OBJECT_EVENT_TRIGGER',
]);

const DATA_CHANGES = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

const OFFLINE_FIX = 'or deploy it in offline mode without failback';

function relationKey(rv: RangeVar | undefined): string {
  return `${rv?.schemaname ?? 'public'}.${rv?.relname ?? '?'}`;
}

function nameListKey(items: unknown): string {
  const names = ((items as { List?: { items?: Node[] } }).List?.items ?? []).map(
    (n) => (n as { String?: { sval?: string } }).String?.sval ?? '?',
  );
  return names.length === 1 ? `public.${names[0]}` : names.slice(-2).join('.');
}

function funcName(call: Node): { qualified: string; schema?: string; name: string } {
  const names = ((call.funcname as Node[] | undefined) ?? []).map(
    (n) => (n as { String?: { sval?: string } }).String?.sval ?? '',
  );
  const name = names[names.length - 1] ?? '';
  return { qualified: names.join('.'), ...(names.length > 1 ? { schema: names[names.length - 2] } : {}), name };
}

/** Every node of `kind` anywhere under `node`. */
function findNodes(node: unknown, kind: string, found: Node[] = []): Node[] {
  if (Array.isArray(node)) {
    for (const item of node) findNodes(item, kind, found);
  } else if (typeof node === 'object' && node !== null) {
    for (const [key, value] of Object.entries(node)) {
      if (key === kind) found.push(value as Node);
      findNodes(value, kind, found);
    }
  }
  return found;
}

/** What the set has created so far: these are not replicated, and may be changed freely. */
class SetState {
  readonly tables = new Set<string>();
  readonly schemas = new Set<string>();
  /** `schema.table.column` → whether the column has a default (rows from blue get it). */
  readonly columns = new Map<string, boolean>();

  isNewTable(rv: RangeVar | undefined): boolean {
    return this.tables.has(relationKey(rv)) || (rv?.schemaname !== undefined && this.schemas.has(rv.schemaname));
  }
}

class Classifier {
  private readonly state = new SetState();

  constructor(private readonly streams: ReplicationStreams) {}

  /** Why each stream breaks, for a reason that applies to both. */
  private get streamWord(): string {
    const { forward, reverse } = this.streams;
    if (forward && reverse) return 'replication (blue → green now, green → blue for failback) stops';
    return forward ? 'replication from blue to green stops' : 'the failback stream from green to blue stops';
  }

  async classify(stmt: Node, lineOf: LineOf): Promise<Verdict[]> {
    const [kind, body] = Object.entries(stmt)[0] ?? ['nothing', {}];
    const node = body as Node;
    if (NEUTRAL.has(kind)) return [];
    switch (kind) {
      case 'CreateStmt':
        return this.createTable(node.relation as RangeVar, node);
      case 'CreateTableAsStmt': {
        const into = node.into as { rel?: RangeVar } | undefined;
        if (node.objtype === 'OBJECT_MATVIEW') return [];
        return this.createTable(into?.rel, node);
      }
      case 'CreateSchemaStmt':
        if (typeof node.schemaname === 'string') this.state.schemas.add(node.schemaname);
        return [];
      case 'CreateExtensionStmt':
        return this.streams.reverse
          ? [
              this.refuse(
                `CREATE EXTENSION: its script may create tables that exist only on green, which failback cannot stream to blue; create the extension on blue first, ${OFFLINE_FIX}`,
              ),
            ]
          : [];
      case 'IndexStmt':
        return this.index(node);
      case 'AlterTableStmt':
        return this.alterTable(node);
      case 'RenameStmt':
        return this.rename(node);
      case 'AlterObjectSchemaStmt':
        if (node.objectType === 'OBJECT_TABLE' && !this.state.isNewTable(node.relation as RangeVar)) {
          return [
            this.refuse(
              `moves replicated table ${relationKey(node.relation as RangeVar)} to schema ${String(node.newschema)}: replication matches tables by schema and name, so ${this.streamWord}; move it in a later deployment, ${OFFLINE_FIX}`,
            ),
          ];
        }
        return [];
      case 'DropStmt':
        return this.drop(node);
      case 'TruncateStmt':
        return ((node.relations as { RangeVar?: RangeVar }[] | undefined) ?? [])
          .map((r) => r.RangeVar)
          .filter((rv) => !this.state.isNewTable(rv))
          .map((rv) =>
            this.refuse(
              `TRUNCATE of replicated table ${relationKey(rv)} empties it on green only: blue's later updates and deletes of its rows find nothing there and are lost; ${OFFLINE_FIX}`,
            ),
          );
      case 'SelectStmt':
        return this.select(node);
      case 'InsertStmt':
      case 'UpdateStmt':
      case 'DeleteStmt':
      case 'MergeStmt':
        return this.dataChanges({ [kind]: node });
      case 'DoStmt':
        return this.doBlock(node, lineOf);
      case 'CallStmt':
        return [
          this.refuse(
            'CALL runs a procedure whose statements cannot be classified from here; write them as plain statements in the file, or deploy it in offline mode',
          ),
        ];
      case 'CreatePublicationStmt':
      case 'AlterPublicationStmt':
      case 'CreateSubscriptionStmt':
      case 'AlterSubscriptionStmt':
      case 'DropSubscriptionStmt':
        return [
          this.refuse(
            `${kind.replace(/Stmt$/, '')}: the workflow manages replication itself; a migration must not change publications or subscriptions`,
          ),
        ];
      default:
        return [
          this.refuse(
            `${kind.replace(/Stmt$/, '')} is not classified for replication, so it is refused rather than guessed; deploy it in offline mode`,
          ),
        ];
    }
  }

  /**
   * A PL/pgSQL DO block: its body is read by PostgreSQL's own PL/pgSQL parser, and every statement
   * and expression in it is classified like a statement of the file, at its own line. EXECUTE
   * builds its statement at run time: refused, as is a block in any other language.
   */
  private async doBlock(node: Node, lineOf: LineOf): Promise<Verdict[]> {
    const options = ((node.args as { DefElem?: Node }[] | undefined) ?? []).map((a) => a.DefElem ?? {});
    const option = (name: string) => options.find((o) => o.defname === name);
    const sval = (o: Node | undefined) => (o?.arg as { String?: { sval?: string } } | undefined)?.String?.sval;
    const language = sval(option('language'))?.toLowerCase() ?? 'plpgsql';
    const bodyOption = option('as');
    const body = sval(bodyOption) ?? '';
    if (language !== 'plpgsql') {
      return [
        this.refuse(
          `a DO block in ${language}: only PL/pgSQL blocks can be read; write its statements as plain SQL in the file, or deploy it in offline mode`,
        ),
      ];
    }
    let tag = 'bluegreen_do';
    while (body.includes(`$${tag}$`)) tag += '_';
    let tree: unknown;
    try {
      tree = await parsePlPgSQL(
        `CREATE FUNCTION pg_temp.bluegreen_do() RETURNS void LANGUAGE plpgsql AS $${tag}$${body}$${tag}$`,
      );
    } catch (error) {
      return [
        this.refuse(`a DO block that PL/pgSQL cannot read (${(error as Error).message}), so it cannot be classified`),
      ];
    }
    // PL/pgSQL numbers lines from the body's first line: the line of its opening quote.
    const firstLine = lineOf(typeof bodyOption?.location === 'number' ? bodyOption.location : 0);
    const verdicts: Verdict[] = [];
    const visit = async (value: unknown, lineno: number): Promise<void> => {
      if (Array.isArray(value)) {
        for (const item of value) await visit(item, lineno);
        return;
      }
      if (typeof value !== 'object' || value === null) return;
      for (const [key, child] of Object.entries(value)) {
        const own = (child as { lineno?: unknown } | null)?.lineno;
        const line = typeof own === 'number' ? own : lineno;
        const dynamic =
          key === 'PLpgSQL_stmt_dynexecute' ||
          key === 'PLpgSQL_stmt_dynfors' ||
          (key === 'PLpgSQL_stmt_open' && (child as Node).dynquery !== undefined);
        if (dynamic) {
          verdicts.push({
            ...this.refuse(
              'EXECUTE in a DO block builds its statement at run time, so it cannot be classified; write the statement itself, or deploy it in offline mode',
            ),
            line: firstLine + line - 1,
            statement: 'DO: EXECUTE …',
          });
        } else if (key === 'PLpgSQL_expr') {
          const expr = child as { query?: string; parseMode?: number };
          for (const verdict of await this.expression(expr.query ?? '', expr.parseMode ?? 0)) {
            verdicts.push({ ...verdict, line: firstLine + line - 1 });
          }
        } else {
          await visit(child, line);
        }
      }
    };
    await visit(tree, 1);
    return verdicts;
  }

  /** A statement (mode 0) or an expression (PL/pgSQL's other parse modes) inside a DO block. */
  private async expression(query: string, parseMode: number): Promise<Verdict[]> {
    // Assignments (`n := f()`) come with their target; the value is an expression like the others.
    const sql = parseMode === 0 ? query : `SELECT ${parseMode >= 3 ? query.replace(/^[^=:']*(?::=|=)/, '') : query}`;
    const statement = `DO: ${query.replace(/\s+/g, ' ').trim()}`.slice(0, STATEMENT_PREVIEW);
    let statements: { stmt?: Node }[];
    try {
      statements = (await parse(sql)).stmts as { stmt?: Node }[];
    } catch (error) {
      if (!hasSqlDetails(error)) throw error;
      return [{ ...this.refuse('a part of a DO block that cannot be read, so it cannot be classified'), statement }];
    }
    const verdicts: Verdict[] = [];
    for (const inner of statements) {
      // Nested statements have no file position of their own: they are reported at the block's line.
      for (const verdict of await this.classify(inner.stmt ?? {}, () => 1)) verdicts.push({ ...verdict, statement });
    }
    return verdicts;
  }

  private refuse(reason: string): Verdict {
    return { level: 'refuse', reason };
  }

  private warn(reason: string): Verdict {
    return { level: 'warn', reason };
  }

  private createTable(rv: RangeVar | undefined, node: Node): Verdict[] {
    if (!rv || rv.relpersistence === 't' || (node.relation as RangeVar | undefined)?.relpersistence === 't') return [];
    const key = relationKey(rv);
    // IF NOT EXISTS may meet blue's own table: then it stays replicated, and is judged as such.
    if (!node.if_not_exists) this.state.tables.add(key);
    if (this.streams.reverse) {
      return [
        this.refuse(
          `new table ${key} exists only on green: failback publishes only blue's tables, so rows written to it after cutover would be lost on failback; create it in a deployment without failback`,
        ),
      ];
    }
    return [];
  }

  private index(node: Node): Verdict[] {
    const rv = node.relation as RangeVar;
    if (this.state.isNewTable(rv) || !node.unique || !this.streams.forward) return [];
    return [
      this.warn(
        `unique index ${String(node.idxname ?? '')} on replicated table ${relationKey(rv)}: a row blue accepts could violate it on green, and replication stops until that row is fixed`,
      ),
    ];
  }

  private alterTable(node: Node): Verdict[] {
    const rv = node.relation as RangeVar;
    const objtype = node.objtype as string | undefined;
    if (objtype && objtype !== 'OBJECT_TABLE') {
      return objtype === 'OBJECT_TYPE'
        ? [this.refuse('ALTER TYPE … on a composite type is not classified for replication; deploy it in offline mode')]
        : [];
    }
    const table = relationKey(rv);
    const isNew = this.state.isNewTable(rv);
    const verdicts: Verdict[] = [];
    for (const item of (node.cmds as { AlterTableCmd?: Node }[] | undefined) ?? []) {
      const cmd = item.AlterTableCmd ?? {};
      const subtype = String(cmd.subtype);
      const column = typeof cmd.name === 'string' ? cmd.name : undefined;
      const columnKey = `${table}.${column ?? ''}`;
      const newColumn = column !== undefined && this.state.columns.has(columnKey);
      if (subtype === 'AT_AddColumn') {
        verdicts.push(...this.addColumn(table, isNew, cmd.def as { ColumnDef?: Node }));
        continue;
      }
      if (subtype === 'AT_ColumnDefault' && newColumn) {
        this.state.columns.set(columnKey, cmd.def !== undefined);
      }
      if (isNew || NEUTRAL_TABLE_COMMANDS.has(subtype) || subtype === 'AT_ColumnDefault') continue;
      switch (subtype) {
        case 'AT_DropColumn':
          if (newColumn) this.state.columns.delete(columnKey);
          else
            verdicts.push(
              this.refuse(
                `drops column ${column} of replicated table ${table}: the other side still has it and sends it, so ${this.streamWord}; drop it in a later deployment, once no application uses it, ${OFFLINE_FIX}`,
              ),
            );
          break;
        case 'AT_AlterColumnType':
          if (!newColumn)
            verdicts.push(
              this.refuse(
                `changes the type of column ${column} of replicated table ${table}: values of the old type may not convert, and ${this.streamWord}; add a new column instead, ${OFFLINE_FIX}`,
              ),
            );
          break;
        case 'AT_SetNotNull':
          if (!newColumn || !this.state.columns.get(columnKey))
            verdicts.push(this.notNull(`column ${column} of replicated table ${table}`));
          break;
        case 'AT_AddConstraint':
          verdicts.push(...this.constraint(table, (cmd.def as { Constraint?: Node }).Constraint ?? {}));
          break;
        case 'AT_AddIndexConstraint':
          if (this.streams.forward) verdicts.push(this.constraintWarning(table, 'a unique or primary key constraint'));
          break;
        default:
          verdicts.push(
            this.refuse(
              `ALTER TABLE ${table} ${subtype.replace(/^AT_/, '')} is not classified for replication, so it is refused rather than guessed; ${OFFLINE_FIX}`,
            ),
          );
      }
    }
    return verdicts;
  }

  private addColumn(table: string, isNew: boolean, def: { ColumnDef?: Node } | undefined): Verdict[] {
    const column = def?.ColumnDef ?? {};
    const name = String(column.colname ?? '?');
    const constraints = ((column.constraints as { Constraint?: Node }[] | undefined) ?? []).map(
      (c) => c.Constraint ?? {},
    );
    const types = new Set(constraints.map((c) => String(c.contype)));
    const filled = types.has('CONSTR_DEFAULT') || types.has('CONSTR_IDENTITY') || types.has('CONSTR_GENERATED');
    this.state.columns.set(`${table}.${name}`, filled);
    if (isNew) return [];
    if (this.streams.reverse) {
      return [
        this.refuse(
          `adds column ${name} to replicated table ${table}: blue has no such column: the failback stream leaves it out (a column list, PostgreSQL 15+) or stops at the first row green writes (14 and older), so its values would be lost on failback; add it in a deployment without failback`,
        ),
      ];
    }
    if ((types.has('CONSTR_NOTNULL') || types.has('CONSTR_PRIMARY')) && !filled) {
      return [this.notNull(`new column ${name} of replicated table ${table}, without a default,`)];
    }
    // NOT NULL with a value for every row is fine: the default (or identity) fills blue's rows.
    return constraints.filter((c) => c.contype !== 'CONSTR_NOTNULL').flatMap((c) => this.constraint(table, c));
  }

  private notNull(what: string): Verdict {
    return this.refuse(
      `makes ${what} NOT NULL: rows blue still writes carry no value for it, so ${this.streamWord}; give it a default, or add the constraint in a later deployment, ${OFFLINE_FIX}`,
    );
  }

  private constraint(table: string, constraint: Node): Verdict[] {
    switch (constraint.contype) {
      case 'CONSTR_UNIQUE':
      case 'CONSTR_PRIMARY':
      case 'CONSTR_EXCLUSION':
        return this.streams.forward
          ? [this.constraintWarning(table, `a ${String(constraint.contype).slice(7).toLowerCase()} constraint`)]
          : [];
      case 'CONSTR_CHECK':
        return this.streams.forward ? [this.constraintWarning(table, 'a check constraint')] : [];
      case 'CONSTR_NOTNULL':
        return [this.notNull(`a column of replicated table ${table}`)];
      default:
        // Foreign keys are not checked for replicated changes (apply runs as a replica); defaults,
        // identities and generated columns fill rows that lack them.
        return [];
    }
  }

  private constraintWarning(table: string, what: string): Verdict {
    return this.warn(
      `adds ${what} to replicated table ${table}: a row blue accepts could violate it on green, and replication stops until that row is fixed`,
    );
  }

  private rename(node: Node): Verdict[] {
    const type = String(node.renameType);
    const rv = node.relation as RangeVar | undefined;
    if (type === 'OBJECT_TABLE') {
      const from = relationKey(rv);
      if (this.state.isNewTable(rv)) {
        this.state.tables.add(`${rv?.schemaname ?? 'public'}.${String(node.newname)}`);
        return [];
      }
      return [
        this.refuse(
          `renames replicated table ${from} to ${String(node.newname)}: replication matches tables by name, so ${this.streamWord}; create a view with the new name instead, ${OFFLINE_FIX}`,
        ),
      ];
    }
    if (type === 'OBJECT_COLUMN' && node.relationType === 'OBJECT_TABLE') {
      const table = relationKey(rv);
      const key = `${table}.${String(node.subname)}`;
      if (this.state.isNewTable(rv)) return [];
      if (this.state.columns.has(key)) {
        this.state.columns.set(`${table}.${String(node.newname)}`, this.state.columns.get(key) ?? false);
        this.state.columns.delete(key);
        return [];
      }
      return [
        this.refuse(
          `renames column ${String(node.subname)} of replicated table ${table} to ${String(node.newname)}: replication matches columns by name, so ${this.streamWord}; add the new column beside the old one, ${OFFLINE_FIX}`,
        ),
      ];
    }
    if (type === 'OBJECT_SCHEMA' && !this.state.schemas.has(String(node.subname))) {
      return [
        this.refuse(
          `renames schema ${String(node.subname)}: replication matches tables by schema and name, so ${this.streamWord}; ${OFFLINE_FIX}`,
        ),
      ];
    }
    if (NEUTRAL_RENAMES.has(type) || type === 'OBJECT_COLUMN' || type === 'OBJECT_SCHEMA') return [];
    return [
      this.refuse(
        `renaming ${type.replace(/^OBJECT_/, '').toLowerCase()} is not classified for replication, so it is refused rather than guessed; ${OFFLINE_FIX}`,
      ),
    ];
  }

  private drop(node: Node): Verdict[] {
    const type = String(node.removeType);
    const objects = (node.objects as unknown[] | undefined) ?? [];
    if (type === 'OBJECT_TABLE') {
      return objects
        .map(nameListKey)
        .filter((key) => !this.state.tables.has(key) && !this.state.schemas.has(key.split('.')[0] ?? ''))
        .map((key) =>
          this.refuse(
            `drops replicated table ${key}: the other side keeps writing it, so ${this.streamWord}; drop it in a later deployment, once no application uses it, ${OFFLINE_FIX}`,
          ),
        );
    }
    const cascade = node.behavior === 'DROP_CASCADE';
    if (type === 'OBJECT_SCHEMA') {
      const existing = objects
        .map((o) => (o as { String?: { sval?: string } }).String?.sval ?? '?')
        .filter((s) => !this.state.schemas.has(s));
      return cascade && existing.length
        ? [
            this.refuse(
              `DROP SCHEMA ${existing.join(', ')} CASCADE drops the replicated tables in it, so ${this.streamWord}; ${OFFLINE_FIX}`,
            ),
          ]
        : [];
    }
    if (type === 'OBJECT_EXTENSION') {
      return [
        this.refuse(
          `DROP EXTENSION also drops the extension's own tables, which may be replicated; drop it in a later deployment, ${OFFLINE_FIX}`,
        ),
      ];
    }
    if (!NEUTRAL_DROPS.has(type)) {
      return [
        this.refuse(
          `dropping ${type.replace(/^OBJECT_/, '').toLowerCase()} is not classified for replication, so it is refused rather than guessed; ${OFFLINE_FIX}`,
        ),
      ];
    }
    if (cascade) {
      return [
        this.refuse(
          `DROP … CASCADE can drop columns of replicated tables (a column of a dropped type, say) that the other side still sends; drop the dependent objects by name instead, ${OFFLINE_FIX}`,
        ),
      ];
    }
    return [];
  }

  private select(node: Node): Verdict[] {
    const verdicts: Verdict[] = [];
    const into = node.intoClause as { rel?: RangeVar } | undefined;
    if (into?.rel) verdicts.push(...this.createTable(into.rel, node));
    for (const call of findNodes(node, 'FuncCall')) {
      const fn = funcName(call);
      if (fn.schema === 'pg_catalog' || (!fn.schema && BUILTIN_FUNCTIONS.has(fn.name.toLowerCase()))) continue;
      verdicts.push(
        this.refuse(
          `calls ${fn.qualified}(), whose statements cannot be classified from here; write them as plain statements in the file, or deploy it in offline mode`,
        ),
      );
    }
    return [...verdicts, ...this.dataChanges(node)];
  }

  /** Writes to replicated tables, also inside WITH: green's rows then differ from blue's. */
  private dataChanges(node: Node): Verdict[] {
    if (!this.streams.forward) return [];
    const verdicts: Verdict[] = [];
    for (const kind of DATA_CHANGES) {
      for (const change of findNodes(node, kind)) {
        const rv = change.relation as RangeVar | undefined;
        if (!rv || this.state.isNewTable(rv)) continue;
        verdicts.push(
          this.warn(
            `${kind.replace(/Stmt$/, '').toUpperCase()} on replicated table ${relationKey(rv)} changes green's rows only: blue's later writes to the same rows overwrite them or, for a duplicate key, stop replication, and rows blue writes from now on are not changed`,
          ),
        );
      }
    }
    return verdicts;
  }
}

/** Byte offset (what the parser reports) → 1-based line. */
function lineOfByte(bytes: Buffer, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < bytes.length; i++) if (bytes[i] === 0x0a) line++;
  return line;
}

function preview(bytes: Buffer, offset: number, length: number | undefined): string {
  const text = bytes
    .subarray(offset, length === undefined ? bytes.length : offset + length)
    .toString('utf8')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > STATEMENT_PREVIEW ? `${text.slice(0, STATEMENT_PREVIEW - 1)}…` : text;
}

/**
 * Classifies every statement of the set, files in order (what a file creates is new for the files
 * after it). A file that does not parse is refused: nothing in it could be classified.
 */
export async function classifyMigrations(
  files: readonly MigrationText[],
  streams: ReplicationStreams,
): Promise<CompatResult> {
  const result: CompatResult = { refused: [], warned: [] };
  if (!streams.forward && !streams.reverse) return result;
  const classifier = new Classifier(streams);
  for (const file of files) {
    const bytes = Buffer.from(file.sql, 'utf8');
    let statements: { stmt?: Node; stmt_location?: number; stmt_len?: number }[];
    try {
      statements = (await parse(file.sql)).stmts as typeof statements;
    } catch (error) {
      if (!hasSqlDetails(error)) throw error;
      const at = (error as { sqlDetails?: { cursorPosition?: number } }).sqlDetails?.cursorPosition;
      result.refused.push({
        file: file.name,
        line: at === undefined ? 1 : lineOfByte(bytes, Buffer.byteLength(file.sql.slice(0, at), 'utf8')),
        statement: '',
        reason: `does not parse (${(error as Error).message}), so it cannot be classified`,
      });
      continue;
    }
    for (const statement of statements) {
      const offset = statement.stmt_location ?? 0;
      const where = {
        file: file.name,
        line: lineOfByte(bytes, offset),
        statement: preview(bytes, offset, statement.stmt_len),
      };
      const lineOf: LineOf = (byteOffset) => lineOfByte(bytes, byteOffset);
      for (const verdict of await classifier.classify(statement.stmt ?? {}, lineOf)) {
        (verdict.level === 'refuse' ? result.refused : result.warned).push({
          file: where.file,
          line: verdict.line ?? where.line,
          statement: verdict.statement ?? where.statement,
          reason: verdict.reason,
        });
      }
    }
  }
  return result;
}
