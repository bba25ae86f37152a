-- Deterministic sample data: 500 customers, 50 products, 2,000 orders with 1 to 3 lines each.
INSERT INTO app.customers (email, name)
SELECT format('customer%s@example.com', g), format('Customer %s', g)
FROM generate_series(1, 500) AS g;

INSERT INTO app.products (sku, title, price_cents)
SELECT format('SKU-%s', lpad(g::text, 4, '0')), format('Product %s', g), 100 + (g * 37) % 9900
FROM generate_series(1, 50) AS g;

INSERT INTO app.orders (customer_id, placed_at, total_cents)
SELECT 1 + (g * 7) % 500, timestamptz '2026-01-01' + g * interval '37 minutes', 0
FROM generate_series(1, 2000) AS g;

INSERT INTO app.order_lines (order_id, line_no, product_id, quantity, price_cents)
SELECT o.id, l, 1 + (o.id * 13 + l * 7) % 50, 1 + (o.id + l) % 4, p.price_cents
FROM app.orders AS o
CROSS JOIN generate_series(1, 3) AS l
JOIN app.products AS p ON p.id = 1 + (o.id * 13 + l * 7) % 50
WHERE l <= 1 + o.id % 3;

UPDATE app.orders AS o
SET total_cents = s.total
FROM (SELECT order_id, sum(quantity * price_cents) AS total FROM app.order_lines GROUP BY order_id) AS s
WHERE s.order_id = o.id;

ANALYZE;

INSERT INTO app.sessions_cache (token, expires_at)
SELECT format('token-%s', g), timestamptz '2026-06-01' FROM generate_series(1, 20) AS g;

INSERT INTO app.invoice_pdfs (order_id, pdf)
VALUES (1, lo_from_bytea(0, convert_to('%PDF-1.4 invoice for order 1', 'UTF8')));
