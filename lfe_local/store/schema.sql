-- lfe-local DuckDB schema, version 7 (2 added the LEC, taxonomy and comparison tables; 3 added
-- code tests and failure kinds; 4 added task versions, program outputs and problem generators;
-- 5 the instructor calls; 6 the scorer of each evaluation; 7 the precision of each evaluation). Every statement is idempotent, so
-- running this file brings an older database's tables and views up to date; what adding cannot do
-- (filling a new column for the rows written before it) is a named migration in db.py. Bump
-- SCHEMA_VERSION in db.py when this file changes.
-- Tables are the record; the views at the bottom are the documented public API (see README).

CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
-- The named migrations (db.py MIGRATIONS) applied to this file, and when; a database made before
-- schema 7 lists only those applied since.
CREATE TABLE IF NOT EXISTS migrations (
    version     INTEGER PRIMARY KEY,
    name        VARCHAR NOT NULL,
    applied_at  TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS runs (
    run_id      VARCHAR PRIMARY KEY,
    created_at  TIMESTAMP NOT NULL,
    task        VARCHAR NOT NULL,
    strategy    VARCHAR NOT NULL,
    n_cycles    INTEGER NOT NULL,
    fingerprint VARCHAR NOT NULL,      -- hash of the config minus run.cycles: a resume must match it
    config_json VARCHAR NOT NULL,
    target_model VARCHAR NOT NULL,
    instructor_model VARCHAR NOT NULL,
    status      VARCHAR NOT NULL,      -- running | finished
    best_cycle  INTEGER,               -- chosen on val accuracy
    finished_at TIMESTAMP,
    task_version INTEGER,              -- the task's version when the run was made (NULL: before schema 4)
    lfe_version VARCHAR,               -- lfe-local's version when the run was made
    -- set when the run finishes: the best cycle's test accuracy against cycle 0's, same items,
    -- with a 95% paired bootstrap interval of the difference
    test_base   DOUBLE,
    test_best   DOUBLE,
    test_delta  DOUBLE,
    test_ci_low DOUBLE,
    test_ci_high DOUBLE,
    test_items  INTEGER
);
ALTER TABLE runs ADD COLUMN IF NOT EXISTS task_version INTEGER;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS lfe_version VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS test_base DOUBLE;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS test_best DOUBLE;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS test_delta DOUBLE;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS test_ci_low DOUBLE;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS test_ci_high DOUBLE;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS test_items INTEGER;

-- One row per finished stage: the resume marker. A stage's rows and this row commit together.
CREATE TABLE IF NOT EXISTS stages (
    run_id      VARCHAR NOT NULL,
    cycle       INTEGER NOT NULL,
    stage       VARCHAR NOT NULL,
    started_at  TIMESTAMP NOT NULL,
    seconds     DOUBLE NOT NULL,
    summary     VARCHAR,
    PRIMARY KEY (run_id, cycle, stage)
);

CREATE TABLE IF NOT EXISTS items (
    run_id    VARCHAR NOT NULL,
    task      VARCHAR NOT NULL,
    item_id   VARCHAR NOT NULL,
    split     VARCHAR NOT NULL,
    question  VARCHAR NOT NULL,
    answer    VARCHAR NOT NULL,
    solution  VARCHAR,
    tests     VARCHAR,                 -- code tasks: the test program run after a completion
    PRIMARY KEY (run_id, item_id)
);
ALTER TABLE items ADD COLUMN IF NOT EXISTS tests VARCHAR;

-- One row per item per evaluation.
CREATE TABLE IF NOT EXISTS evaluations (
    run_id      VARCHAR NOT NULL,
    cycle       INTEGER NOT NULL,
    task        VARCHAR NOT NULL,
    split       VARCHAR NOT NULL,
    item_id     VARCHAR NOT NULL,
    model       VARCHAR NOT NULL,
    adapter     VARCHAR,               -- NULL for the base target (cycle 0)
    prompt      VARCHAR NOT NULL,      -- the exact text fed to the model, chat template applied
    response    VARCHAR NOT NULL,
    extracted   VARCHAR,
    gold        VARCHAR NOT NULL,
    correct     BOOLEAN NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency_s   DOUBLE NOT NULL,       -- this item's share of its batch's wall time
    failure     VARCHAR,               -- why not correct: no_answer, ambiguous, wrong_answer, syntax_error,
                                       -- timeout, an exception name (code), ...; NULL when correct
    detail      VARCHAR,               -- e.g. the failing assert of a code answer (shown to the instructor)
    task_version INTEGER,              -- the version of the task that prompted and scored (NULL: before schema 4)
    scorer      VARCHAR DEFAULT 'strict', -- who judged: strict (lfe-local's extraction) or paper (the reference's)
    precision   VARCHAR,               -- the dtype the target ran in: bfloat16 | float32 (NULL: before schema 7)
    PRIMARY KEY (run_id, cycle, split, item_id)
);
ALTER TABLE evaluations ADD COLUMN IF NOT EXISTS failure VARCHAR;
ALTER TABLE evaluations ADD COLUMN IF NOT EXISTS detail VARCHAR;
ALTER TABLE evaluations ADD COLUMN IF NOT EXISTS task_version INTEGER;
ALTER TABLE evaluations ADD COLUMN IF NOT EXISTS scorer VARCHAR DEFAULT 'strict';
ALTER TABLE evaluations ADD COLUMN IF NOT EXISTS precision VARCHAR;

-- One row per instructor call (an analysed error), successful or failed after retries.
CREATE TABLE IF NOT EXISTS analyses (
    run_id      VARCHAR NOT NULL,
    cycle       INTEGER NOT NULL,
    task        VARCHAR NOT NULL,
    item_id     VARCHAR NOT NULL,      -- the failed train item
    strategy    VARCHAR NOT NULL,
    status      VARCHAR NOT NULL,      -- ok | failed
    failure     VARCHAR,               -- why the last attempt was unusable (invalid_json, schema, truncated)
    attempts    INTEGER NOT NULL,
    error_type  VARCHAR,
    analysis    VARCHAR,
    prompt      VARCHAR NOT NULL,      -- the last user message sent
    raw_reply   VARCHAR,               -- the last reply, verbatim
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    seconds     DOUBLE NOT NULL,
    PRIMARY KEY (run_id, cycle, item_id, strategy)
);

-- Every generated sample, accepted or rejected, with the reason.
CREATE TABLE IF NOT EXISTS samples (
    run_id      VARCHAR NOT NULL,
    cycle       INTEGER NOT NULL,
    sample_id   VARCHAR NOT NULL,
    strategy    VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,      -- corrected | new | gold
    source_item_id VARCHAR NOT NULL,
    question    VARCHAR NOT NULL,
    solution    VARCHAR NOT NULL,
    answer      VARCHAR,
    program     VARCHAR,
    tests       VARCHAR,               -- code: the instructor's tests for its own solution
    status      VARCHAR NOT NULL,      -- generated (not yet verified) | accepted | rejected
    reason      VARCHAR,
    detail      VARCHAR,
    training_text VARCHAR,             -- the response the target is trained on (accepted only)
    generator_id VARCHAR,              -- made by this generator (new_problems = "program"); NULL: written
    program_output VARCHAR,            -- math: the number the sample's own program printed in the sandbox
    own_solution VARCHAR,              -- program mode: the generator's own solution text, when `solution` is its traced derivation
    PRIMARY KEY (run_id, sample_id)
);
ALTER TABLE samples ADD COLUMN IF NOT EXISTS tests VARCHAR;
ALTER TABLE samples ADD COLUMN IF NOT EXISTS generator_id VARCHAR;
ALTER TABLE samples ADD COLUMN IF NOT EXISTS program_output VARCHAR;
ALTER TABLE samples ADD COLUMN IF NOT EXISTS own_solution VARCHAR;

-- Problem generators (new_problems = "program"): one row per generator the instructor was asked
-- for, with the code, the errors it came from, what running it made and its verdict.
CREATE TABLE IF NOT EXISTS generators (
    run_id       VARCHAR NOT NULL,
    cycle        INTEGER NOT NULL,
    generator_id VARCHAR NOT NULL,
    strategy     VARCHAR NOT NULL,
    error_type   VARCHAR,              -- the group's error type (taxonomy cluster); NULL for aug
    source_item_ids VARCHAR NOT NULL,  -- comma-separated train items shown to the instructor
    code         VARCHAR,              -- generate(rng), NULL when no attempt gave one
    attempts     INTEGER NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    seconds      DOUBLE NOT NULL,      -- instructor time
    raw_reply    VARCHAR,
    run_kind     VARCHAR,              -- the sandbox's verdict on the run: ok | timeout | exception | ...
    instances_run    INTEGER NOT NULL, -- seeds it was called with
    instances_made   INTEGER NOT NULL, -- well-formed instances (became samples)
    instance_failures VARCHAR,         -- why the others were not: "raised: ZeroDivisionError x2; bad_shape ..."
    status       VARCHAR NOT NULL,     -- made (awaiting checks) -> accepted | rejected; failed: nothing made
    reason       VARCHAR,              -- no_code | run_failed | no_instances | no_valid_instance | disagrees | unverified
    detail       VARCHAR,
    PRIMARY KEY (run_id, generator_id)
);

-- The fresh solves of a generator's instances: the instructor's program for the question text alone.
CREATE TABLE IF NOT EXISTS generator_checks (
    run_id       VARCHAR NOT NULL,
    cycle        INTEGER NOT NULL,
    generator_id VARCHAR NOT NULL,
    sample_id    VARCHAR NOT NULL,
    program      VARCHAR,
    output       VARCHAR,              -- the number it printed
    agrees       BOOLEAN NOT NULL,
    detail       VARCHAR,
    PRIMARY KEY (run_id, sample_id)
);

CREATE TABLE IF NOT EXISTS train_steps (
    run_id   VARCHAR NOT NULL,
    cycle    INTEGER NOT NULL,
    step     INTEGER NOT NULL,
    epoch    DOUBLE NOT NULL,
    loss     DOUBLE NOT NULL,
    learning_rate DOUBLE NOT NULL,
    tokens   INTEGER NOT NULL,
    seconds  DOUBLE NOT NULL,
    PRIMARY KEY (run_id, cycle, step)
);

CREATE TABLE IF NOT EXISTS adapters (
    run_id      VARCHAR NOT NULL,
    cycle       INTEGER NOT NULL,
    path        VARCHAR,               -- NULL when the cycle had nothing to train on
    parent      VARCHAR,               -- adapter it continued from (continue mode)
    n_samples   INTEGER NOT NULL,
    n_steps     INTEGER NOT NULL,
    final_loss  DOUBLE,
    seconds     DOUBLE NOT NULL,
    PRIMARY KEY (run_id, cycle)
);

-- Sentence embeddings of item questions: one per item and embedding model, computed once and
-- reused by every cycle and every run in this database.
CREATE TABLE IF NOT EXISTS item_embeddings (
    task        VARCHAR NOT NULL,
    item_id     VARCHAR NOT NULL,
    model       VARCHAR NOT NULL,      -- the embedding model's folder name
    text_sha    VARCHAR NOT NULL,      -- sha256 of the embedded question: a changed question is embedded again
    vector      FLOAT[] NOT NULL,      -- unit length
    PRIMARY KEY (task, item_id, model)
);

-- LEC: which correctly answered train items were shown beside which failed item.
CREATE TABLE IF NOT EXISTS neighbours (
    run_id       VARCHAR NOT NULL,
    cycle        INTEGER NOT NULL,
    item_id      VARCHAR NOT NULL,     -- the failed train item
    rank         INTEGER NOT NULL,     -- 1 = most similar
    neighbour_id VARCHAR NOT NULL,     -- a train item the target answered correctly in the previous cycle
    similarity   DOUBLE NOT NULL,      -- cosine similarity of the questions
    neighbour_response VARCHAR NOT NULL, -- the target's correct response, as shown to the instructor
    PRIMARY KEY (run_id, cycle, item_id, rank)
);

-- The error taxonomy: each analysed error's free-text error type and the cluster it joined.
CREATE TABLE IF NOT EXISTS error_clusters (
    run_id      VARCHAR NOT NULL,
    cycle       INTEGER NOT NULL,
    task        VARCHAR NOT NULL,
    item_id     VARCHAR NOT NULL,
    strategy    VARCHAR NOT NULL,
    error_type  VARCHAR NOT NULL,
    cluster     VARCHAR NOT NULL,      -- named after its most frequent member; stable across a run's cycles
    PRIMARY KEY (run_id, cycle, item_id, strategy)
);

-- `lfe compare`: one row per comparison, one per (strategy, seed) run, one result per strategy and cycle.
CREATE TABLE IF NOT EXISTS comparisons (
    compare_id  VARCHAR PRIMARY KEY,
    created_at  TIMESTAMP NOT NULL,
    task        VARCHAR NOT NULL,
    strategies  VARCHAR NOT NULL,      -- comma-separated, in the order asked for
    seeds       VARCHAR NOT NULL,      -- comma-separated
    n_cycles    INTEGER NOT NULL,
    fingerprint VARCHAR NOT NULL,      -- the shared config (minus strategy, seed, cycles): a resume must match it
    status      VARCHAR NOT NULL,      -- running | finished
    finished_at TIMESTAMP
);

CREATE TABLE IF NOT EXISTS comparison_runs (
    compare_id  VARCHAR NOT NULL,
    strategy    VARCHAR NOT NULL,
    seed        INTEGER NOT NULL,
    run_id      VARCHAR NOT NULL,
    PRIMARY KEY (compare_id, strategy, seed)
);

CREATE TABLE IF NOT EXISTS comparison_results (
    compare_id  VARCHAR NOT NULL,
    strategy    VARCHAR NOT NULL,
    cycle       INTEGER NOT NULL,
    n_seeds     INTEGER NOT NULL,
    n_items     INTEGER NOT NULL,      -- test items
    accuracy    DOUBLE NOT NULL,       -- mean test accuracy over seeds
    base_accuracy DOUBLE NOT NULL,     -- the same runs at cycle 0
    delta       DOUBLE NOT NULL,       -- accuracy - base_accuracy
    ci_low      DOUBLE NOT NULL,       -- 95% paired bootstrap interval of delta (over test items)
    ci_high     DOUBLE NOT NULL,
    PRIMARY KEY (compare_id, strategy, cycle)
);

-- Public views -------------------------------------------------------------------------

-- One row per evaluation, as before schema 6, plus the scorer that judged it (a run has one).
CREATE OR REPLACE VIEW cycle_metrics AS
SELECT run_id, cycle, task, split,
       count(*)::INTEGER AS n_items,
       avg(correct::INTEGER)::DOUBLE AS accuracy,
       coalesce(scorer, 'strict') AS scorer
FROM evaluations
GROUP BY run_id, cycle, task, split, coalesce(scorer, 'strict');

CREATE OR REPLACE VIEW error_analyses AS
SELECT a.run_id, a.cycle, a.task, a.item_id, i.question,
       e.response AS wrong_response, a.error_type, a.analysis
FROM analyses a
JOIN items i ON i.run_id = a.run_id AND i.item_id = a.item_id
LEFT JOIN evaluations e
       ON e.run_id = a.run_id AND e.cycle = a.cycle - 1 AND e.split = 'train' AND e.item_id = a.item_id
WHERE a.status = 'ok' AND a.error_type IS NOT NULL;  -- aug calls analyse no error

-- origin: written (an instructor reply's new problem), generator (a generator's instance),
-- corrected (a failed item's corrected solution) or gold (sft).
CREATE OR REPLACE VIEW sample_funnel AS
WITH s AS (SELECT *, CASE WHEN generator_id IS NOT NULL THEN 'generator' WHEN kind = 'new' THEN 'written'
                          ELSE kind END AS origin FROM samples)
SELECT run_id, cycle, strategy, 'generated' AS status, NULL::VARCHAR AS reason, count(*)::INTEGER AS n, origin
FROM s GROUP BY run_id, cycle, strategy, origin
UNION ALL
SELECT run_id, cycle, strategy, status, reason, count(*)::INTEGER AS n, origin
FROM s WHERE status IN ('accepted', 'rejected')
GROUP BY run_id, cycle, strategy, status, reason, origin;

-- Which error type produced which data: per generator, its instances and what became of them.
CREATE OR REPLACE VIEW generator_yield AS
SELECT g.run_id, g.cycle, g.generator_id, g.strategy, g.error_type, g.source_item_ids, g.status, g.reason,
       g.instances_run, g.instances_made,
       count(s.sample_id) FILTER (WHERE s.status = 'accepted')::INTEGER AS n_accepted,
       count(s.sample_id) FILTER (WHERE s.status = 'rejected')::INTEGER AS n_rejected,
       (SELECT count(*) FROM generator_checks c WHERE c.run_id = g.run_id AND c.generator_id = g.generator_id
          AND c.agrees)::INTEGER AS checks_agreed,
       (SELECT count(*) FROM generator_checks c WHERE c.run_id = g.run_id
          AND c.generator_id = g.generator_id)::INTEGER AS checks,
       g.instance_failures, g.seconds AS instructor_seconds,
       -- accepted with a solution rebuilt from the generator's computation (instructor.traced_solutions)
       count(s.sample_id) FILTER (WHERE s.status = 'accepted' AND s.own_solution IS NOT NULL)::INTEGER
         AS n_accepted_traced
FROM generators g
LEFT JOIN samples s ON s.run_id = g.run_id AND s.generator_id = g.generator_id
GROUP BY ALL;

-- Every instructor call, one row per generation (a retry after an unusable reply is a call of its
-- own), whatever the engine: what it was for, where it went, how long it took, what it cost.
CREATE TABLE IF NOT EXISTS calls (
    run_id       VARCHAR NOT NULL,
    cycle        INTEGER NOT NULL,
    stage        VARCHAR NOT NULL,     -- instruct | verify
    seq          INTEGER NOT NULL,     -- order of completion within the stage
    purpose      VARCHAR NOT NULL,     -- analysis | new_problems | generator | generator_repair | generator_check | answer_check
    backend      VARCHAR NOT NULL,     -- llama_cpp | openai
    model        VARCHAR NOT NULL,     -- instructor.model: a GGUF path, or the served model's name
    endpoint     VARCHAR NOT NULL,     -- "in-process", or the server's base URL
    started_at   TIMESTAMP NOT NULL,
    seconds      DOUBLE NOT NULL,      -- latency of this generation (in-process batches: its share of the batch)
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    retries      INTEGER NOT NULL,     -- transport retries (timeouts, 429, 5xx) before the reply
    finish_reason VARCHAR NOT NULL,    -- stop | length
    temperature  DOUBLE NOT NULL,
    max_tokens   INTEGER NOT NULL,
    json_schema  BOOLEAN NOT NULL,     -- the reply was constrained to a JSON schema
    PRIMARY KEY (run_id, cycle, stage, seq)
);
-- CPU threads of an in-process llama.cpp call (the cores free when it started); NULL for servers.
ALTER TABLE calls ADD COLUMN IF NOT EXISTS threads INTEGER;


-- Rejected generator instances by reason (instances that never became samples are in generator_yield).
CREATE OR REPLACE VIEW generator_rejections AS
SELECT run_id, cycle, generator_id, reason, count(*)::INTEGER AS n
FROM samples WHERE generator_id IS NOT NULL AND status = 'rejected'
GROUP BY run_id, cycle, generator_id, reason;

-- Every instructor call (schema 5; before, this view summed the analyses per strategy and status,
-- which instructor_usage now does).
CREATE OR REPLACE VIEW instructor_calls AS
SELECT run_id, cycle, stage, seq, purpose, backend, model, endpoint, started_at, seconds AS latency_s,
       prompt_tokens, completion_tokens, retries, finish_reason, json_schema,
       completion_tokens / nullif(seconds, 0) AS tokens_per_s, threads
FROM calls;

-- Instructor cost per cycle, purpose and backend.
CREATE OR REPLACE VIEW instructor_usage AS
SELECT run_id, cycle, purpose, backend, model, count(*)::INTEGER AS calls, sum(retries)::INTEGER AS retries,
       sum(prompt_tokens)::BIGINT AS prompt_tokens, sum(completion_tokens)::BIGINT AS completion_tokens,
       sum(seconds)::DOUBLE AS seconds,
       sum(completion_tokens) / nullif(sum(seconds), 0) AS tokens_per_s
FROM calls GROUP BY run_id, cycle, purpose, backend, model;

-- What each finished run bought: the best cycle (chosen on val) against cycle 0 on the test split.
CREATE OR REPLACE VIEW run_results AS
SELECT run_id, task, strategy, best_cycle, test_items, test_base, test_best, test_delta, test_ci_low,
       test_ci_high, (test_ci_low > 0 OR test_ci_high < 0) AS significant, created_at, finished_at
FROM runs WHERE status = 'finished';

CREATE OR REPLACE VIEW stage_times AS
SELECT run_id, cycle, stage, started_at, seconds, summary FROM stages;

-- Which kinds of error the target makes (errors of the cycle-1 target, analysed in `cycle`).
CREATE OR REPLACE VIEW error_types AS
SELECT run_id, cycle, task, cluster, count(*)::INTEGER AS n_errors, min(item_id) AS example_item_id
FROM error_clusters GROUP BY run_id, cycle, task, cluster;

CREATE OR REPLACE VIEW lec_neighbours AS
SELECT n.run_id, n.cycle, n.item_id, i.question, n.rank, n.neighbour_id, j.question AS neighbour_question,
       n.neighbour_response, n.similarity
FROM neighbours n
JOIN items i ON i.run_id = n.run_id AND i.item_id = n.item_id
JOIN items j ON j.run_id = n.run_id AND j.item_id = n.neighbour_id;

CREATE OR REPLACE VIEW strategy_comparison AS
SELECT r.compare_id, c.task, r.strategy, r.cycle, r.n_seeds, r.n_items, r.accuracy, r.base_accuracy, r.delta,
       r.ci_low, r.ci_high, (r.ci_low > 0 OR r.ci_high < 0) AS significant
FROM comparison_results r JOIN comparisons c USING (compare_id);
