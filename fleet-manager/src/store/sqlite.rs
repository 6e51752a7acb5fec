//! The embedded SQLite backend: one file in the data directory, WAL journal.
//!
//! One connection behind a mutex, used from blocking threads: the manager's hot paths
//! (desired-state polls) never reach the database, and SQLite serializes writers anyway.
//!
//! Transactions are group-committed: callers queue their statements, and whoever gets
//! the connection runs every queued transaction in one SQLite transaction, each inside
//! its own savepoint (so one caller's failure rolls back only its own statements), then
//! answers them all after the one commit. A deployment to 100,000 agents is 100,000
//! status reports arriving together; one commit each capped the manager at about 1,300
//! reports a second, most of it spent committing and handing the connection between
//! threads.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::types::ValueRef;

use super::migrations::MIGRATIONS;
use super::{Database, Dialect, Row, StoreError, Value};

/// A SQLite database file (or `:memory:`).
pub struct Sqlite {
    conn: Arc<Mutex<rusqlite::Connection>>,
    /// Callers queue here, asynchronously, before taking a blocking thread: SQLite runs
    /// one statement at a time anyway, and without this every waiting caller parked its
    /// own blocking thread on the connection mutex. A registration burst of 10,000 agents
    /// grew the blocking pool to its 512-thread limit, and those threads' stacks and
    /// malloc arenas stayed in the manager's resident memory afterwards.
    gate: tokio::sync::Mutex<()>,
    /// Transactions waiting for the next group commit.
    queued: Arc<Mutex<Vec<QueuedTx>>>,
}

type Statements = Vec<(&'static str, Vec<Value>)>;

/// A caller's transaction waiting in [`Sqlite::queued`], and where its answer goes.
struct QueuedTx {
    statements: Statements,
    reply: tokio::sync::oneshot::Sender<Result<Vec<u64>, StoreError>>,
}

/// The most transactions one group commit takes; later ones wait for the next.
const MAX_GROUP: usize = 512;

fn err(context: &str) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite {
        context: context.to_string(),
        source,
    }
}

impl Sqlite {
    /// Opens (creating) the file, in WAL mode with a busy timeout.
    pub fn open(path: &str) -> Result<Sqlite, StoreError> {
        let conn = rusqlite::Connection::open(path).map_err(err(path))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err("enable WAL"))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err("set synchronous"))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(err("set busy timeout"))?;
        Ok(Sqlite {
            conn: Arc::new(Mutex::new(conn)),
            gate: tokio::sync::Mutex::new(()),
            queued: Arc::new(Mutex::new(Vec::new())),
        })
    }

    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let _turn = self.gate.lock().await;
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::Task("the SQLite connection lock is poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Commits the oldest queued transactions, up to [`MAX_GROUP`], as one group. The
    /// caller holds the gate; the answers are sent from the blocking thread before it is
    /// released, so a caller whose transaction was in the group finds its answer once it
    /// gets in.
    async fn commit_queued(&self) -> Result<(), StoreError> {
        let group: Vec<QueuedTx> = {
            let mut queued = lock(&self.queued)?;
            let n = queued.len().min(MAX_GROUP);
            queued.drain(..n).collect()
        };
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || match conn.lock() {
            Ok(mut guard) => group_commit(&mut guard, group),
            Err(_) => {
                for tx in group {
                    let _ = tx.reply.send(Err(StoreError::Task(
                        "the SQLite connection lock is poisoned".into(),
                    )));
                }
            }
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))
    }
}

fn lock<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>, StoreError> {
    m.lock()
        .map_err(|_| StoreError::Task("the SQLite queue lock is poisoned".into()))
}

/// Runs `group` in one transaction, each caller's statements in a savepoint, and answers
/// every caller: a failing caller's statements are rolled back alone; if the commit
/// itself fails, every caller hears so.
fn group_commit(conn: &mut rusqlite::Connection, group: Vec<QueuedTx>) {
    let mut done: Vec<(QueuedTx, Vec<u64>)> = Vec::with_capacity(group.len());
    if let Err(e) = conn.execute_batch("BEGIN") {
        for tx in group {
            let _ = tx.reply.send(Err(err("begin")(duplicate(&e))));
        }
        return;
    }
    for tx in group {
        match run_in_savepoint(conn, &tx.statements) {
            Ok(changed) => done.push((tx, changed)),
            Err(e) => {
                let _ = tx.reply.send(Err(e));
            }
        }
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => {
            for (tx, changed) in done {
                let _ = tx.reply.send(Ok(changed));
            }
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            for (tx, _) in done {
                let _ = tx.reply.send(Err(err("commit")(duplicate(&e))));
            }
        }
    }
}

/// The same error again, for each caller of a failed group commit (rusqlite's errors
/// are not `Clone`; SQLite's own failures, the ones a commit meets, keep their code).
fn duplicate(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
}

/// One caller's statements, all or none.
fn run_in_savepoint(
    conn: &mut rusqlite::Connection,
    statements: &Statements,
) -> Result<Vec<u64>, StoreError> {
    conn.execute_batch("SAVEPOINT caller")
        .map_err(err("savepoint"))?;
    let mut changed = Vec::with_capacity(statements.len());
    let mut outcome = Ok(());
    for (sql, params) in statements {
        let sql = sqlite_sql(sql);
        let result = conn.prepare_cached(&sql).and_then(|mut stmt| {
            stmt.execute(rusqlite::params_from_iter(params.iter().map(to_sql)))
        });
        match result {
            Ok(n) => changed.push(n as u64),
            Err(e) => {
                outcome = Err(err(&sql)(e));
                break;
            }
        }
    }
    match outcome {
        Ok(()) => {
            conn.execute_batch("RELEASE caller")
                .map_err(err("release"))?;
            Ok(changed)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO caller; RELEASE caller");
            Err(e)
        }
    }
}

/// Rewrites `$1` placeholders to SQLite's numbered `?1`: SQLite reads `$1` as a *named*
/// parameter numbered by first appearance, which would bind out of order.
fn sqlite_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

fn to_sql(v: &Value) -> rusqlite::types::Value {
    match v {
        Value::Null => rusqlite::types::Value::Null,
        Value::Int(n) => rusqlite::types::Value::Integer(*n),
        Value::Text(s) => rusqlite::types::Value::Text(s.clone()),
        Value::Blob(b) => rusqlite::types::Value::Blob(b.clone()),
    }
}

fn from_sql(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Int(n),
        // Only integers are stored; a REAL would come from an expression such as AVG.
        ValueRef::Real(f) => Value::Int(f as i64),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

#[async_trait]
impl Database for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn execute(&self, sql: &str, params: Vec<Value>) -> Result<u64, StoreError> {
        let sql = sqlite_sql(sql);
        self.with_conn(move |conn| {
            let mut stmt = conn.prepare_cached(&sql).map_err(err(&sql))?;
            let n = stmt
                .execute(rusqlite::params_from_iter(params.iter().map(to_sql)))
                .map_err(err(&sql))?;
            Ok(n as u64)
        })
        .await
    }

    async fn query(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        let sql = sqlite_sql(sql);
        self.with_conn(move |conn| {
            let mut stmt = conn.prepare_cached(&sql).map_err(err(&sql))?;
            let columns = stmt.column_count();
            let mut rows = stmt
                .query(rusqlite::params_from_iter(params.iter().map(to_sql)))
                .map_err(err(&sql))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(err(&sql))? {
                let mut values = Vec::with_capacity(columns);
                for i in 0..columns {
                    values.push(from_sql(row.get_ref(i).map_err(err(&sql))?));
                }
                out.push(Row(values));
            }
            Ok(out)
        })
        .await
    }

    async fn transaction(&self, statements: Statements) -> Result<Vec<u64>, StoreError> {
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        lock(&self.queued)?.push(QueuedTx { statements, reply });
        let _turn = self.gate.lock().await;
        loop {
            // Whoever held the connection before us may have committed ours with theirs;
            // if not, commit the oldest queued, ours among them (the queue is in order).
            match answer.try_recv() {
                Ok(result) => return result,
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {
                    self.commit_queued().await?
                }
                Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                    return Err(StoreError::Task(
                        "a group commit dropped a transaction".into(),
                    ))
                }
            }
        }
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)",
            )
            .map_err(err("create schema_migrations"))?;
            for m in MIGRATIONS {
                // IMMEDIATE takes the write lock first, so two processes opening the same
                // file cannot both apply a migration.
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(err("begin migration"))?;
                let done: i64 = tx
                    .query_row(
                        "SELECT COUNT(*) FROM schema_migrations WHERE version = ?1",
                        [m.version],
                        |r| r.get(0),
                    )
                    .map_err(err("read schema_migrations"))?;
                if done == 0 {
                    tx.execute_batch(m.sql(Dialect::Sqlite))
                        .map_err(err("apply migration"))?;
                    tx.execute(
                        "INSERT INTO schema_migrations (version) VALUES (?1)",
                        [m.version],
                    )
                    .map_err(err("record migration"))?;
                    tracing::info!(version = m.version, "applied SQLite migration");
                }
                tx.commit().map_err(err("commit migration"))?;
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Transactions queued while the connection is busy commit together; a failing one
    /// is rolled back alone, and each caller gets its own answer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_transactions_commit_as_a_group_and_fail_alone() {
        let db = Arc::new(Sqlite::open(":memory:").expect("open"));
        db.execute(
            "CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)",
            vec![],
        )
        .await
        .expect("create");
        let busy = db.gate.lock().await;
        let mut callers = Vec::new();
        for i in 0..50i64 {
            let db = db.clone();
            callers.push(tokio::spawn(async move {
                let mut statements: Statements = vec![(
                    "INSERT INTO t (k, v) VALUES ($1, $2)",
                    vec![format!("k{i}").into(), i.into()],
                )];
                if i == 7 {
                    // Its first insert must not survive its second one failing.
                    statements.push(("INSERT INTO t (k, v) VALUES ($1, NULL)", vec!["x".into()]));
                }
                db.transaction(statements).await
            }));
        }
        while lock(&db.queued).expect("queue").len() < 50 {
            tokio::task::yield_now().await;
        }
        drop(busy);
        for (i, c) in callers.into_iter().enumerate() {
            let result = c.await.expect("task");
            if i == 7 {
                let e = result.expect_err("the NOT NULL violation");
                assert!(e.to_string().contains("NOT NULL"), "{e}");
            } else {
                assert_eq!(result.expect("committed"), vec![1]);
            }
        }
        let rows = db
            .query("SELECT k FROM t ORDER BY v", vec![])
            .await
            .expect("select");
        assert_eq!(rows.len(), 49);
        assert!(!rows.iter().any(|r| r.text(0) == "k7" || r.text(0) == "x"));
        // The connection is usable afterwards, outside any transaction.
        assert_eq!(
            db.transaction(vec![("DELETE FROM t WHERE v < $1", vec![10i64.into()])])
                .await
                .expect("delete"),
            vec![9]
        );
    }

    #[test]
    fn placeholders_keep_their_numbers() {
        assert_eq!(
            sqlite_sql("UPDATE t SET a = $3 WHERE b = $1 AND c = $2 AND d = '$x'"),
            "UPDATE t SET a = ?3 WHERE b = ?1 AND c = ?2 AND d = '$x'"
        );
    }
}
