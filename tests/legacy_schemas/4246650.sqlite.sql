-- The tables commit 4246650's create_schema() made, compiled for sqlite by its own models
-- (git show 4246650:ivr/db.py; tables from ivr/callbacks.py, ivr/records.py, ivr/sessions.py,
-- ivr/wallet/tables.py).

CREATE TABLE accounts (
	id INTEGER NOT NULL,
	phone VARCHAR(20) NOT NULL,
	name_zh VARCHAR(100) NOT NULL,
	name_en VARCHAR(100) NOT NULL,
	pin_hash VARCHAR(200) NOT NULL,
	status VARCHAR(32) NOT NULL,
	lock_reason VARCHAR(32),
	lock_detail_zh TEXT,
	lock_detail_en TEXT,
	locked_at DATETIME,
	self_unlock_allowed BOOLEAN NOT NULL,
	failed_password_attempts INTEGER NOT NULL,
	balance_fen BIGINT NOT NULL,
	daily_limit_fen BIGINT NOT NULL,
	per_payment_limit_fen BIGINT NOT NULL,
	pin_failures INTEGER NOT NULL,
	pin_locked_until DATETIME,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT ck_accounts_balance_not_negative CHECK (balance_fen >= 0),
	CONSTRAINT ck_accounts_attempts CHECK (failed_password_attempts >= 0),
	CONSTRAINT ck_accounts_pin_failures CHECK (pin_failures >= 0),
	UNIQUE (phone),
	CONSTRAINT account_status CHECK (status IN ('active', 'locked', 'frozen')),
	CONSTRAINT lock_reason CHECK (lock_reason IN ('password_attempts', 'risk_control', 'reported_stolen'))
);

CREATE TABLE call_locks (
	call_sid VARCHAR(64) NOT NULL,
	token VARCHAR(32) NOT NULL,
	expires_at DATETIME NOT NULL,
	PRIMARY KEY (call_sid)
);

CREATE TABLE call_records (
	call_sid VARCHAR(64) NOT NULL,
	flow VARCHAR(64) NOT NULL,
	caller VARCHAR(64) NOT NULL,
	account_id INTEGER,
	lang VARCHAR(16) NOT NULL,
	started_at DATETIME NOT NULL,
	ended_at DATETIME,
	outcome VARCHAR(16),
	reason TEXT,
	queue VARCHAR(64),
	duration_s INTEGER,
	PRIMARY KEY (call_sid),
	CONSTRAINT call_records_outcome CHECK (outcome IN ('self_served', 'agent', 'abandoned', 'failed'))
);
CREATE INDEX ix_call_records_started_at ON call_records (started_at);

CREATE TABLE call_sessions (
	call_sid VARCHAR(64) NOT NULL,
	flow VARCHAR(64) NOT NULL,
	state VARCHAR(128) NOT NULL,
	lang VARCHAR(16) NOT NULL,
	data TEXT NOT NULL,
	seq INTEGER NOT NULL,
	last_reply TEXT,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	ended_at DATETIME,
	version INTEGER NOT NULL,
	PRIMARY KEY (call_sid)
);
CREATE INDEX ix_call_sessions_ended_at ON call_sessions (ended_at);
CREATE INDEX ix_call_sessions_updated_at ON call_sessions (updated_at);

CREATE TABLE callback_requests (
	id INTEGER NOT NULL,
	call_sid VARCHAR(64) NOT NULL,
	phone VARCHAR(64) NOT NULL,
	account_id INTEGER,
	issue TEXT,
	queue VARCHAR(64) NOT NULL,
	requested_at DATETIME NOT NULL,
	preferred_at DATETIME,
	status VARCHAR(16) NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT callback_requests_status CHECK (status IN ('pending', 'done', 'cancelled')),
	UNIQUE (call_sid)
);
CREATE INDEX ix_callback_requests_status ON callback_requests (status);

CREATE TABLE account_events (
	id INTEGER NOT NULL,
	account_id INTEGER NOT NULL,
	kind VARCHAR(32) NOT NULL,
	created_at DATETIME NOT NULL,
	idempotency_key VARCHAR(200) NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(account_id) REFERENCES accounts (id),
	CONSTRAINT account_event_kind CHECK (kind IN ('unlocked', 'protective_freeze')),
	UNIQUE (idempotency_key)
);
CREATE INDEX ix_account_events_account_id ON account_events (account_id);

CREATE TABLE agent_handoffs (
	call_sid VARCHAR(64) NOT NULL,
	queue VARCHAR(64) NOT NULL,
	priority INTEGER NOT NULL,
	enqueued_at DATETIME NOT NULL,
	account_id INTEGER,
	caller_name VARCHAR(128),
	verified BOOLEAN NOT NULL,
	issue TEXT,
	steps_tried TEXT NOT NULL,
	reason TEXT,
	status VARCHAR(16) NOT NULL,
	PRIMARY KEY (call_sid),
	CONSTRAINT agent_handoffs_status CHECK (status IN ('waiting', 'bridged', 'left', 'abandoned', 'failed')),
	FOREIGN KEY(call_sid) REFERENCES call_records (call_sid) ON DELETE CASCADE
);
CREATE INDEX ix_agent_handoffs_status ON agent_handoffs (status);

CREATE TABLE call_events (
	id INTEGER NOT NULL,
	call_sid VARCHAR(64) NOT NULL,
	seq INTEGER NOT NULL,
	at DATETIME NOT NULL,
	state VARCHAR(128) NOT NULL,
	kind VARCHAR(8) NOT NULL,
	detail TEXT NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT call_events_kind CHECK (kind IN ('enter', 'input', 'note')),
	FOREIGN KEY(call_sid) REFERENCES call_records (call_sid) ON DELETE CASCADE
);
CREATE INDEX ix_call_events_call_sid ON call_events (call_sid);

CREATE TABLE payments (
	id INTEGER NOT NULL,
	account_id INTEGER NOT NULL,
	amount_fen BIGINT NOT NULL,
	merchant_zh VARCHAR(200) NOT NULL,
	merchant_en VARCHAR(200) NOT NULL,
	status VARCHAR(32) NOT NULL,
	failure_reason VARCHAR(32),
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT ck_payments_amount_positive CHECK (amount_fen > 0),
	FOREIGN KEY(account_id) REFERENCES accounts (id),
	CONSTRAINT payment_status CHECK (status IN ('succeeded', 'failed')),
	CONSTRAINT payment_failure CHECK (failure_reason IN ('insufficient_balance', 'daily_limit_exceeded', 'method_not_accepted', 'network_error'))
);
CREATE INDEX ix_payments_account_id ON payments (account_id);
CREATE INDEX ix_payments_created_at ON payments (created_at);

CREATE TABLE refunds (
	id INTEGER NOT NULL,
	account_id INTEGER NOT NULL,
	amount_fen BIGINT NOT NULL,
	merchant_zh VARCHAR(200) NOT NULL,
	merchant_en VARCHAR(200) NOT NULL,
	status VARCHAR(32) NOT NULL,
	requested_at DATETIME NOT NULL,
	expected_at DATETIME,
	PRIMARY KEY (id),
	CONSTRAINT ck_refunds_amount_positive CHECK (amount_fen > 0),
	FOREIGN KEY(account_id) REFERENCES accounts (id),
	CONSTRAINT refund_status CHECK (status IN ('in_progress', 'completed', 'rejected'))
);
CREATE INDEX ix_refunds_account_id ON refunds (account_id);

CREATE TABLE sms_outbox (
	id INTEGER NOT NULL,
	account_id INTEGER NOT NULL,
	to_phone VARCHAR(20) NOT NULL,
	body TEXT NOT NULL,
	created_at DATETIME NOT NULL,
	idempotency_key VARCHAR(200) NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(account_id) REFERENCES accounts (id),
	UNIQUE (idempotency_key)
);
CREATE INDEX ix_sms_outbox_account_id ON sms_outbox (account_id);

CREATE TABLE tickets (
	id INTEGER NOT NULL,
	number VARCHAR(40) NOT NULL,
	account_id INTEGER,
	kind VARCHAR(32) NOT NULL,
	status VARCHAR(32) NOT NULL,
	summary TEXT NOT NULL,
	recording_url TEXT,
	caller_phone VARCHAR(20),
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	idempotency_key VARCHAR(200),
	PRIMARY KEY (id),
	UNIQUE (number),
	FOREIGN KEY(account_id) REFERENCES accounts (id),
	CONSTRAINT ticket_kind CHECK (kind IN ('complaint', 'topup_investigation', 'voicemail')),
	CONSTRAINT ticket_status CHECK (status IN ('open', 'in_progress', 'resolved')),
	UNIQUE (idempotency_key)
);
CREATE INDEX ix_tickets_account_id ON tickets (account_id);

CREATE TABLE topups (
	id INTEGER NOT NULL,
	account_id INTEGER NOT NULL,
	amount_fen BIGINT NOT NULL,
	card_last4 VARCHAR(4) NOT NULL,
	status VARCHAR(32) NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT ck_topups_amount_positive CHECK (amount_fen > 0),
	FOREIGN KEY(account_id) REFERENCES accounts (id),
	CONSTRAINT topup_status CHECK (status IN ('pending', 'failed', 'completed'))
);
CREATE INDEX ix_topups_account_id ON topups (account_id);
CREATE INDEX ix_topups_created_at ON topups (created_at);

