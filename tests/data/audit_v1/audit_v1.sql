BEGIN TRANSACTION;
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO "alembic_version" VALUES('0010');
CREATE TABLE approval_requests (
	id INTEGER NOT NULL, 
	release_id INTEGER NOT NULL, 
	phase_run_id INTEGER NOT NULL, 
	phase VARCHAR NOT NULL, 
	channel_id VARCHAR NOT NULL, 
	message_ts VARCHAR, 
	state VARCHAR NOT NULL, 
	owners JSON NOT NULL, 
	gate_snapshot JSON NOT NULL, 
	created_at DATETIME NOT NULL, escalation_level INTEGER DEFAULT '0' NOT NULL, dm_messages JSON DEFAULT '[]' NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(release_id) REFERENCES releases (id), 
	FOREIGN KEY(phase_run_id) REFERENCES phase_runs (id)
);
CREATE TABLE audit_artifacts (
	id INTEGER NOT NULL, 
	release_id INTEGER NOT NULL, 
	phase_run_id INTEGER NOT NULL, 
	filename VARCHAR NOT NULL, 
	title VARCHAR NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	size INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE audit_checkpoints (
	id INTEGER NOT NULL, 
	seq INTEGER NOT NULL, 
	head_hash VARCHAR(64) NOT NULL, 
	signed_at DATETIME NOT NULL, 
	key_id VARCHAR(64) NOT NULL, 
	signature VARCHAR(128) NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_audit_checkpoints_seq_key UNIQUE (seq, key_id)
);
INSERT INTO "audit_checkpoints" VALUES(1,7,'d238ef406c39ecdf3cb88a9ae500c4bad385fc53c52d75593612be599bb53424','2025-06-01 09:01:00.000000','7a480180e8c456c4','ItAyibLOuj+aUuBHkONWXFiLTzzjw1O7rtu3PqAnleMUUF6LlMzJB8Hj64mXFSs87ReOZaMrZddIrXGqPGWJAQ==');
CREATE TABLE audit_events (
	seq INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	actor VARCHAR NOT NULL, 
	action VARCHAR NOT NULL, 
	release_id INTEGER, 
	release_name VARCHAR, 
	phase VARCHAR, 
	outcome VARCHAR NOT NULL, 
	detail JSON NOT NULL, 
	prev_hash VARCHAR NOT NULL, 
	hash VARCHAR NOT NULL, 
	PRIMARY KEY (seq), 
	UNIQUE (hash)
);
INSERT INTO "audit_events" VALUES(1,'2025-06-01 09:00:00.000000','U000000000','test.v1',NULL,NULL,NULL,'ok','{"i": 0, "note": "plain entry"}','0000000000000000000000000000000000000000000000000000000000000000','99a4cb219c978efba7f904a1453d11bee11eb8cbd79ed8a815bdacabec454837');
INSERT INTO "audit_events" VALUES(2,'2025-06-01 09:00:01.000000','U000000001','test.v1',NULL,NULL,NULL,'ok','{"big_float": 3.333333333333333e+20, "tiny_float": 3.3333333333333337e-06, "exact_int_beyond_2_53": 1152921504606846977}','99a4cb219c978efba7f904a1453d11bee11eb8cbd79ed8a815bdacabec454837','4fe7f4a56e582c38be67fa3ad6208287cd7091c38c26cba4933ee23dfc032448');
INSERT INTO "audit_events" VALUES(3,'2025-06-01 09:00:02.000000','U000000002','test.v1',NULL,NULL,NULL,'ok','{"reason": "na\u00efve caf\u00e9 \u2615 =1+1", "del": "\u007f", "ctl": "\u0001\u001f\t\n", "x": 0.1, "n": 1000000000000000}','4fe7f4a56e582c38be67fa3ad6208287cd7091c38c26cba4933ee23dfc032448','a6ae2ab7ac03e8d974a8a13b3a3c485376cdc8f0b1e9e905adb2cd0457e64747');
INSERT INTO "audit_events" VALUES(4,'2025-06-01 09:00:03.000000','U000000003','test.v1',NULL,NULL,NULL,'ok','{"floats": [1e+16, 2.5e-07, 1.2345678901234568e+20, -0.0, 5e-324, 1.7976931348623157e+308]}','a6ae2ab7ac03e8d974a8a13b3a3c485376cdc8f0b1e9e905adb2cd0457e64747','ff81d28c939cf2b7d7f2f5166ae3ea89a22bf23657cc2d3ad81daf33d519189d');
INSERT INTO "audit_events" VALUES(5,'2025-06-01 09:00:04.000000','U000000004','test.v1',NULL,NULL,NULL,'ok','{"keys": {"\u20ac": 1, "\r": 2, "\ud83d\ude02": 3, "\ufb33": 4, "1": 5}}','ff81d28c939cf2b7d7f2f5166ae3ea89a22bf23657cc2d3ad81daf33d519189d','8bcac93885383edf83f3bb3ab682c551d43ff83467cb04c8e828be0d43279e6b');
INSERT INTO "audit_events" VALUES(6,'2025-06-01 09:00:05.000000','U000000005','test.v1',NULL,NULL,NULL,'ok','{"i": 5, "note": "after the edge cases"}','8bcac93885383edf83f3bb3ab682c551d43ff83467cb04c8e828be0d43279e6b','518a067de8f5fe60cb2ecdbf310318ca45729f8f1912e577a4f0f0b79388b82e');
INSERT INTO "audit_events" VALUES(7,'2025-06-01 09:00:06.000000','U000000006','test.v1',NULL,NULL,NULL,'ok','{"i": 6, "note": "last"}','518a067de8f5fe60cb2ecdbf310318ca45729f8f1912e577a4f0f0b79388b82e','d238ef406c39ecdf3cb88a9ae500c4bad385fc53c52d75593612be599bb53424');
CREATE TABLE decisions (
	id INTEGER NOT NULL, 
	approval_request_id INTEGER NOT NULL, 
	release_id INTEGER NOT NULL, 
	phase VARCHAR NOT NULL, 
	decision VARCHAR NOT NULL, 
	"by" VARCHAR NOT NULL, 
	at DATETIME NOT NULL, 
	comment VARCHAR, 
	gate_snapshot JSON NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (approval_request_id), 
	FOREIGN KEY(approval_request_id) REFERENCES approval_requests (id), 
	FOREIGN KEY(release_id) REFERENCES releases (id)
);
CREATE TABLE drills (
	id INTEGER NOT NULL, 
	release_name VARCHAR(63) NOT NULL, 
	release_id INTEGER, 
	channel_id VARCHAR(32) NOT NULL, 
	started_by VARCHAR(32) NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME NOT NULL, 
	outcome VARCHAR(32) NOT NULL, 
	approver VARCHAR(32), 
	approver_response_s FLOAT, 
	escalated BOOLEAN NOT NULL, 
	slack_calls INTEGER NOT NULL, 
	slack_failures INTEGER NOT NULL, 
	slack_p50_s FLOAT, 
	slack_p95_s FLOAT, 
	slack_max_s FLOAT, 
	rollback_detect_s FLOAT, 
	rollback_engine_s FLOAT, 
	engine VARCHAR(64) NOT NULL, 
	detail JSON NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE finding_acceptances (
	id INTEGER NOT NULL, 
	release_id INTEGER NOT NULL, 
	finding_key VARCHAR(64) NOT NULL, 
	severity VARCHAR NOT NULL, 
	"by" VARCHAR NOT NULL, 
	reason VARCHAR NOT NULL, 
	at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_finding_acceptance UNIQUE (release_id, finding_key, "by"), 
	FOREIGN KEY(release_id) REFERENCES releases (id)
);
CREATE TABLE gate_results (
	id INTEGER NOT NULL, 
	phase_run_id INTEGER NOT NULL, 
	gate VARCHAR NOT NULL, 
	image_id VARCHAR, 
	status VARCHAR NOT NULL, 
	summary VARCHAR NOT NULL, 
	measured FLOAT, 
	threshold FLOAT, 
	unit VARCHAR NOT NULL, 
	"values" JSON NOT NULL, 
	evidence JSON NOT NULL, 
	findings JSON NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(phase_run_id) REFERENCES phase_runs (id)
);
CREATE TABLE inspector_links_used (
	digest VARCHAR(64) NOT NULL, 
	user_id VARCHAR(64) NOT NULL, 
	used_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	PRIMARY KEY (digest)
);
CREATE TABLE metric_samples (
	id INTEGER NOT NULL, 
	release VARCHAR(63) NOT NULL, 
	cohort VARCHAR(16) NOT NULL, 
	region VARCHAR(256) NOT NULL, 
	page VARCHAR(256), 
	kind VARCHAR(8) NOT NULL, 
	name VARCHAR(16) NOT NULL, 
	value FLOAT NOT NULL, 
	sample_id VARCHAR(256), 
	rating VARCHAR(32), 
	delta FLOAT, 
	navigation_type VARCHAR(32), 
	source VARCHAR(16) NOT NULL, 
	received_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE outbox (
	id INTEGER NOT NULL, 
	idempotency_key VARCHAR(200) NOT NULL, 
	method VARCHAR(64) NOT NULL, 
	args JSON NOT NULL, 
	ordering_key VARCHAR(200), 
	state VARCHAR NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	claimed_by VARCHAR, 
	result_ts VARCHAR, 
	result_channel VARCHAR, 
	error VARCHAR, 
	created_at DATETIME NOT NULL, 
	sent_at DATETIME, 
	release_id INTEGER, 
	PRIMARY KEY (id), 
	UNIQUE (idempotency_key)
);
CREATE TABLE phase_runs (
	id INTEGER NOT NULL, 
	release_id INTEGER NOT NULL, 
	phase VARCHAR NOT NULL, 
	outcome VARCHAR NOT NULL, 
	status_message_ts VARCHAR, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(release_id) REFERENCES releases (id)
);
CREATE TABLE releases (
	id INTEGER NOT NULL, 
	name VARCHAR(63) NOT NULL, 
	attempt INTEGER NOT NULL, 
	title VARCHAR NOT NULL, 
	channel_id VARCHAR NOT NULL, 
	root_ts VARCHAR, 
	requested_by VARCHAR NOT NULL, 
	phase VARCHAR NOT NULL, 
	state VARCHAR NOT NULL, 
	paused_from VARCHAR, 
	bundle_dir VARCHAR NOT NULL, 
	bundle JSON NOT NULL, 
	policy JSON NOT NULL, 
	traffic_percent FLOAT NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_releases_name_attempt UNIQUE (name, attempt)
);
CREATE TABLE slack_events_seen (
	event_id VARCHAR(64) NOT NULL, 
	received_at DATETIME NOT NULL, 
	PRIMARY KEY (event_id)
);
CREATE TABLE timers (
	id INTEGER NOT NULL, 
	kind VARCHAR(64) NOT NULL, 
	target_id INTEGER NOT NULL, 
	"key" VARCHAR(200), 
	due_at DATETIME NOT NULL, 
	state VARCHAR NOT NULL, 
	claimed_by VARCHAR, 
	claimed_at DATETIME, 
	attempts INTEGER NOT NULL, 
	last_error VARCHAR, 
	payload JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	done_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE ("key")
);
CREATE INDEX ix_releases_name ON releases (name);
CREATE UNIQUE INDEX uq_releases_active_name ON releases (name) WHERE state NOT IN ('completed', 'rejected', 'rolled_back');
CREATE INDEX ix_phase_runs_release_id ON phase_runs (release_id);
CREATE INDEX ix_gate_results_phase_run_id ON gate_results (phase_run_id);
CREATE INDEX ix_approval_requests_release_id ON approval_requests (release_id);
CREATE INDEX ix_decisions_release_id ON decisions (release_id);
CREATE INDEX ix_audit_events_action ON audit_events (action);
CREATE INDEX ix_audit_events_release_id ON audit_events (release_id);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE INDEX ix_timers_state_due_at ON timers (state, due_at);
CREATE INDEX ix_timers_target_id ON timers (target_id);
CREATE INDEX ix_outbox_state_next_attempt_at ON outbox (state, next_attempt_at);
CREATE INDEX ix_outbox_ordering_key ON outbox (ordering_key);
CREATE INDEX ix_outbox_release_id ON outbox (release_id);
CREATE UNIQUE INDEX uq_metric_samples_vital ON metric_samples (release, name, cohort, sample_id) WHERE sample_id IS NOT NULL;
CREATE INDEX ix_audit_checkpoints_seq ON audit_checkpoints (seq);
CREATE INDEX ix_audit_artifacts_release_id ON audit_artifacts (release_id);
CREATE INDEX ix_audit_artifacts_phase_run_id ON audit_artifacts (phase_run_id);
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE INDEX ix_drills_release_name ON drills (release_name);
CREATE INDEX ix_drills_started_at ON drills (started_at);
CREATE INDEX ix_finding_acceptances_release_id ON finding_acceptances (release_id);
CREATE INDEX ix_metric_samples_window ON metric_samples (release, kind, name, cohort, source, received_at, value);
COMMIT;
