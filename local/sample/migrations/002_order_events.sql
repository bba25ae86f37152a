-- An audit trail of status changes, filled by a trigger.
CREATE TABLE app.order_events (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  order_id    bigint NOT NULL REFERENCES app.orders (id) ON DELETE CASCADE,
  from_status app.order_status,
  to_status   app.order_status NOT NULL,
  changed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION app.record_order_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status IS DISTINCT FROM OLD.status THEN
    INSERT INTO app.order_events (order_id, from_status, to_status) VALUES (NEW.id, OLD.status, NEW.status);
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER order_status_changed
AFTER UPDATE OF status ON app.orders
FOR EACH ROW EXECUTE FUNCTION app.record_order_event();
