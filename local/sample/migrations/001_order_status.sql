-- Orders get a lifecycle status; existing orders are considered delivered.
CREATE TYPE app.order_status AS ENUM ('pending', 'paid', 'shipped', 'delivered', 'cancelled');

ALTER TABLE app.orders ADD COLUMN status app.order_status;
UPDATE app.orders SET status = 'delivered' WHERE status IS NULL;
ALTER TABLE app.orders
  ALTER COLUMN status SET DEFAULT 'pending',
  ALTER COLUMN status SET NOT NULL;
