"""PostgreSQL: ``osmanthus_append_audit``, appending a group of audit entries in one
statement (the web service's event loop; :mod:`osmanthus.ledger.pg_writer`).

It takes the chain's advisory lock (waiting at most ``wait_ms``), reads the head with a
snapshot taken after the lock is held, and chains and inserts the entries handed over
already encoded (``before``/``after``: :func:`osmanthus.audit.chain.canonical_around_seq`),
each entry's hash computed as :func:`osmanthus.audit.chain.chain_hash` computes it. Every
verification recomputes the hashes in Python, so a difference would show at once.
Nothing on SQLite (appends there are local calls).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_FUNCTION = r"""
CREATE FUNCTION osmanthus_append_audit(
    wait_ms integer, lock_key bigint, genesis text,
    p_at text[], p_actor text[], p_action text[], p_subject text[], p_purpose text[],
    p_detail text[], p_salt text[], p_sealed text[], p_before bytea[], p_after bytea[]
) RETURNS TABLE (out_seq bigint, out_prev text, out_hash text)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    head_seq bigint;
    head_hash text;
BEGIN
    PERFORM set_config('lock_timeout', wait_ms || 'ms', true);
    PERFORM pg_advisory_xact_lock(lock_key);
    -- a new statement, a new snapshot: it sees the last commit of the lock's last holder
    SELECT a.seq, a.hash INTO head_seq, head_hash FROM audit_log a ORDER BY a.seq DESC LIMIT 1;
    IF head_seq IS NULL THEN
        head_seq := 0;
        head_hash := genesis;
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_at, 1), 0) LOOP
        out_prev := head_hash;
        head_seq := head_seq + 1;
        head_hash := encode(sha256(
            convert_to(out_prev, 'UTF8') || '\x0a'::bytea || p_before[i]
            || convert_to(head_seq::text, 'UTF8') || p_after[i]
        ), 'hex');
        INSERT INTO audit_log (seq, at, actor, action, subject, purpose, detail, prev_hash,
                               hash, salt, sealed)
        VALUES (head_seq, p_at[i], p_actor[i], p_action[i], p_subject[i], p_purpose[i],
                p_detail[i], out_prev, head_hash, p_salt[i], p_sealed[i]);
        out_seq := head_seq;
        out_hash := head_hash;
        RETURN NEXT;
    END LOOP;
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION osmanthus_append_audit(integer, bigint, text, text[], text[], "
            "text[], text[], text[], text[], text[], text[], bytea[], bytea[])"
        )
