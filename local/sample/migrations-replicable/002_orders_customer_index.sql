-- bluegreen:no-transaction
-- CREATE INDEX CONCURRENTLY cannot run inside a transaction block.
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_placed_idx ON app.orders (customer_id, placed_at DESC);
