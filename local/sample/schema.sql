-- Sample application schema for the local rehearsal: a small order system, plus the table the
-- load generator writes to (every acknowledged insert must survive the blue/green deployment).
CREATE SCHEMA app;

CREATE TABLE app.customers (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email      text NOT NULL UNIQUE,
  name       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE app.products (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sku         text NOT NULL UNIQUE,
  title       text NOT NULL,
  price_cents integer NOT NULL CHECK (price_cents >= 0)
);

CREATE TABLE app.orders (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES app.customers (id),
  placed_at   timestamptz NOT NULL DEFAULT now(),
  total_cents integer NOT NULL CHECK (total_cents >= 0)
);

CREATE TABLE app.order_lines (
  order_id    bigint NOT NULL REFERENCES app.orders (id) ON DELETE CASCADE,
  line_no     integer NOT NULL,
  product_id  bigint NOT NULL REFERENCES app.products (id),
  quantity    integer NOT NULL CHECK (quantity > 0),
  price_cents integer NOT NULL CHECK (price_cents >= 0),
  PRIMARY KEY (order_id, line_no)
);

-- Written by the rehearsal's load generator through the CNAME.
CREATE TABLE app.load_writes (
  id         bigint PRIMARY KEY,
  written_at timestamptz NOT NULL DEFAULT now()
);

-- The sticky pool's every other write takes its id from this sequence: the clone must carry the
-- sequence past every id blue handed out.
CREATE SEQUENCE app.seq_writes_id_seq;
CREATE TABLE app.seq_writes (
  id         bigint PRIMARY KEY DEFAULT nextval('app.seq_writes_id_seq'),
  written_at timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE app.seq_writes_id_seq OWNED BY app.seq_writes.id;

-- The rogue clients of `--hostile` (docs/rehearsal.md): a job on the admin path that turns
-- read-only off in its own session, and a replication-mode (walsender) connection.
CREATE TABLE app.admin_writes (
  id         bigint PRIMARY KEY,
  written_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE app.repl_writes (
  id         bigint PRIMARY KEY,
  written_at timestamptz NOT NULL DEFAULT now()
);

-- An unlogged table: Aurora keeps its rows in a clone; a local base-backup clone does not
-- (PostgreSQL resets unlogged relations when it recovers), which the report states.
CREATE UNLOGGED TABLE app.sessions_cache (
  token      text PRIMARY KEY,
  expires_at timestamptz NOT NULL
);

-- A large object, referenced by oid: clones and checks must carry pg_largeobject too.
CREATE TABLE app.invoice_pdfs (
  order_id bigint PRIMARY KEY,
  pdf      oid NOT NULL
);
