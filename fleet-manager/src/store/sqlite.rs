//! The embedded SQLite backend: one file in the data directory, WAL journal.
//!
//! One connection behind a mutex, used from blocking threads: the manager's hot paths
//! (desired-state polls) never reach the database, and SQLite serializes writers anyway.

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
}

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

    async fn transaction(
        &self,
        statements: Vec<(&'static str, Vec<Value>)>,
    ) -> Result<Vec<u64>, StoreError> {
        self.with_conn(move |conn| {
            let tx = conn.transaction().map_err(err("begin"))?;
            let mut changed = Vec::with_capacity(statements.len());
            for (sql, params) in &statements {
                let sql = sqlite_sql(sql);
                let mut stmt = tx.prepare_cached(&sql).map_err(err(&sql))?;
                let n = stmt
                    .execute(rusqlite::params_from_iter(params.iter().map(to_sql)))
                    .map_err(err(&sql))?;
                changed.push(n as u64);
            }
            tx.commit().map_err(err("commit"))?;
            Ok(changed)
        })
        .await
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

    #[test]
    fn placeholders_keep_their_numbers() {
        assert_eq!(
            sqlite_sql("UPDATE t SET a = $3 WHERE b = $1 AND c = $2 AND d = '$x'"),
            "UPDATE t SET a = ?3 WHERE b = ?1 AND c = ?2 AND d = '$x'"
        );
    }
}
