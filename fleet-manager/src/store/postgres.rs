//! The PostgreSQL backend, for several manager replicas sharing one database.
//!
//! One pipelined client, reconnected on the next call when the connection drops, so a
//! database restart costs the failed calls only.

use async_trait::async_trait;
use tokio::sync::RwLock;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls};

use super::migrations::MIGRATIONS;
use super::{Database, Dialect, Row, StoreError, Value};

/// Advisory lock key serializing migrations across replicas ("fleetmig").
const MIGRATION_LOCK: i64 = 0x666c_6565_746d_6967;

/// A PostgreSQL database.
pub struct Postgres {
    url: String,
    client: RwLock<Client>,
}

fn err(context: &str) -> impl FnOnce(tokio_postgres::Error) -> StoreError + '_ {
    move |source| StoreError::Postgres {
        context: context.to_string(),
        source,
    }
}

/// Opens a connection and drives it on a background task.
pub async fn connect_client(url: &str) -> Result<Client, StoreError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(err("connect"))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "PostgreSQL connection closed");
        }
    });
    Ok(client)
}

impl Postgres {
    pub async fn connect(url: &str) -> Result<Postgres, StoreError> {
        let client = connect_client(url).await?;
        Ok(Postgres {
            url: url.to_string(),
            client: RwLock::new(client),
        })
    }

    /// The live client, reconnecting first when the previous connection closed.
    async fn client(&self) -> Result<tokio::sync::RwLockReadGuard<'_, Client>, StoreError> {
        {
            let guard = self.client.read().await;
            if !guard.is_closed() {
                return Ok(guard);
            }
        }
        let mut guard = self.client.write().await;
        if guard.is_closed() {
            tracing::info!("reconnecting to PostgreSQL");
            *guard = connect_client(&self.url).await?;
        }
        drop(guard);
        Ok(self.client.read().await)
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(n) => n.to_sql(ty, out),
            Value::Text(s) => s.to_sql(ty, out),
            Value::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn params(values: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

fn row_values(row: &tokio_postgres::Row) -> Result<Row, StoreError> {
    let mut values = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let v = match *col.type_() {
            Type::INT8 => row
                .try_get::<_, Option<i64>>(i)
                .map_err(err("read BIGINT"))?
                .map_or(Value::Null, Value::Int),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(i)
                .map_err(err("read INT"))?
                .map_or(Value::Null, |n| Value::Int(i64::from(n))),
            Type::BYTEA => row
                .try_get::<_, Option<Vec<u8>>>(i)
                .map_err(err("read BYTEA"))?
                .map_or(Value::Null, Value::Blob),
            Type::BOOL => row
                .try_get::<_, Option<bool>>(i)
                .map_err(err("read BOOL"))?
                .map_or(Value::Null, Value::from),
            _ => row
                .try_get::<_, Option<String>>(i)
                .map_err(err("read TEXT"))?
                .map_or(Value::Null, Value::Text),
        };
        values.push(v);
    }
    Ok(Row(values))
}

#[async_trait]
impl Database for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn execute(&self, sql: &str, values: Vec<Value>) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare(sql).await.map_err(err(sql))?;
        client
            .execute(&stmt, &params(&values))
            .await
            .map_err(err(sql))
    }

    async fn query(&self, sql: &str, values: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare(sql).await.map_err(err(sql))?;
        let rows = client
            .query(&stmt, &params(&values))
            .await
            .map_err(err(sql))?;
        rows.iter().map(row_values).collect()
    }

    async fn transaction(
        &self,
        statements: Vec<(&'static str, Vec<Value>)>,
    ) -> Result<Vec<u64>, StoreError> {
        // Exclusive use of the client for the transaction's few statements: other calls
        // of this replica wait instead of landing inside it.
        let mut client = self.client.write().await;
        if client.is_closed() {
            *client = connect_client(&self.url).await?;
        }
        let tx = client.transaction().await.map_err(err("begin"))?;
        let mut changed = Vec::with_capacity(statements.len());
        for (sql, values) in &statements {
            let n = tx.execute(*sql, &params(values)).await.map_err(err(sql))?;
            changed.push(n);
        }
        tx.commit().await.map_err(err("commit"))?;
        Ok(changed)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // A dedicated connection holding a session advisory lock for the whole run:
        // replicas starting together wait for each other instead of racing to create
        // the same tables. The lock goes away with the connection.
        let mut client = connect_client(&self.url).await?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(err("lock migrations"))?;
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)",
            )
            .await
            .map_err(err("create schema_migrations"))?;
        for m in MIGRATIONS {
            let tx = client.transaction().await.map_err(err("begin migration"))?;
            let done = tx
                .query_opt(
                    "SELECT version FROM schema_migrations WHERE version = $1",
                    &[&m.version],
                )
                .await
                .map_err(err("read schema_migrations"))?;
            if done.is_none() {
                tx.batch_execute(m.sql(Dialect::Postgres))
                    .await
                    .map_err(err("apply migration"))?;
                tx.execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)",
                    &[&m.version],
                )
                .await
                .map_err(err("record migration"))?;
                tracing::info!(version = m.version, "applied PostgreSQL migration");
            }
            tx.commit().await.map_err(err("commit migration"))?;
        }
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(err("unlock migrations"))?;
        Ok(())
    }
}
