-- The replicable sample set (online mode, failback): nothing that changes a replicated table's
-- shape, so the stream keeps flowing both ways. A view of each customer's orders.
CREATE VIEW app.customer_order_totals AS
SELECT customer_id, count(*) AS orders, sum(total_cents) AS total_cents
FROM app.orders
GROUP BY customer_id;
