//! What a database restore will do at its destination, decided before anything changes.
//!
//! A restore runs as the environment's own role. `pg_restore --clean` would drop and recreate
//! every object in the dump, and fails on the first one that role does not own: an extension a
//! superuser installed, a schema an admin role owns, an event trigger. Those are left in place
//! instead (commented out of pg_restore's list file), since the destination already has them.
//! What the dump needs and the role can neither find nor create stops the restore before it
//! starts, naming the object and the one-line fix for whoever administers the server.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::Connection;

use crate::connection::PgConnectionInput;
use crate::error::{Error, ErrorCode, Result};
pub use crate::model::restore::DatabaseRestorePlan;
pub use crate::model::restore::ObjectCount;
pub use crate::model::restore::PlannedObject;
use crate::postgres::migrations::quote_ident;
use crate::postgres::toc::{Toc, TocEntry};

/// Who owns an object at the destination, and whether the restoring role may drop it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub name: String,
    /// The role is the owner, a member of the owning role, or a superuser.
    pub ours: bool,
}

/// What the destination database has, seen by the role the restore runs as.
#[derive(Debug, Clone, Default)]
pub struct Destination {
    pub role: String,
    pub superuser: bool,
    /// May create schemas and trusted extensions in the database.
    pub can_create: bool,
    pub extensions: HashMap<String, Owner>,
    pub schemas: HashMap<String, Owner>,
    /// Schemas the role may not create objects in.
    pub schemas_without_create: HashSet<String>,
    pub event_triggers: HashMap<String, Owner>,
    /// Relations the role does not own, and relations that belong to an extension, by
    /// (schema, name); the rest may be dropped and recreated freely.
    pub relations: HashMap<(String, String), Relation>,
    /// Extensions the server could install, and whether a non-superuser may (trusted).
    pub available: HashMap<String, bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub owner: Owner,
    pub extension_member: bool,
}

impl Destination {
    pub async fn inspect(conn: &PgConnectionInput) -> Result<Self> {
        let mut db = crate::postgres::connect(conn).await?;
        let failed = |e: sqlx::Error| {
            Error::new(
                ErrorCode::PgError,
                format!("Looking at what {} holds failed: {e}", conn.database),
            )
        };
        let (role, superuser, can_create, version): (String, bool, bool, i32) = sqlx::query_as(
            "SELECT current_user::text, rolsuper, has_database_privilege(current_database(), 'CREATE'),
                    current_setting('server_version_num')::int
             FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&mut db)
        .await
        .map_err(failed)?;
        let owners = |sql: &'static str| sqlx::query_as::<_, (String, String, bool)>(sql);
        let extensions = owners(
            "SELECT e.extname::text, r.rolname::text, pg_has_role(e.extowner, 'MEMBER')
             FROM pg_extension e JOIN pg_roles r ON r.oid = e.extowner",
        )
        .fetch_all(&mut db)
        .await
        .map_err(failed)?;
        let schemas = owners(
            "SELECT n.nspname::text, r.rolname::text, pg_has_role(n.nspowner, 'MEMBER')
             FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner",
        )
        .fetch_all(&mut db)
        .await
        .map_err(failed)?;
        let schemas_without_create: Vec<String> = sqlx::query_scalar(
            "SELECT nspname::text FROM pg_namespace
             WHERE NOT has_schema_privilege(oid, 'CREATE')
               AND nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'",
        )
        .fetch_all(&mut db)
        .await
        .map_err(failed)?;
        let event_triggers = owners(
            "SELECT t.evtname::text, r.rolname::text, pg_has_role(t.evtowner, 'MEMBER')
             FROM pg_event_trigger t JOIN pg_roles r ON r.oid = t.evtowner",
        )
        .fetch_all(&mut db)
        .await
        .map_err(failed)?;
        let relations: Vec<(String, String, String, bool, bool)> = sqlx::query_as(
            "SELECT n.nspname::text, c.relname::text, r.rolname::text,
                    pg_has_role(c.relowner, 'MEMBER'),
                    EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                            AND d.objid = c.oid AND d.deptype = 'e')
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  JOIN pg_roles r ON r.oid = c.relowner
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
               AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname NOT LIKE 'pg\\_toast%'
               AND (NOT pg_has_role(c.relowner, 'MEMBER') OR EXISTS (
                    SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                    AND d.objid = c.oid AND d.deptype = 'e'))",
        )
        .fetch_all(&mut db)
        .await
        .map_err(failed)?;
        // `trusted` exists from PostgreSQL 13; before it only superusers create extensions.
        let available: Vec<(String, bool)> = sqlx::query_as(if version >= 130000 {
            "SELECT a.name::text, coalesce(v.trusted, false)
             FROM pg_available_extensions a LEFT JOIN pg_available_extension_versions v
               ON v.name = a.name AND v.version = a.default_version"
        } else {
            "SELECT name::text, false FROM pg_available_extensions"
        })
        .fetch_all(&mut db)
        .await
        .map_err(failed)?;
        db.close().await.ok();
        let owned = |rows: Vec<(String, String, bool)>| {
            rows.into_iter()
                .map(|(object, name, ours)| (object, Owner { name, ours }))
                .collect()
        };
        Ok(Self {
            role,
            superuser,
            can_create,
            extensions: owned(extensions),
            schemas: owned(schemas),
            schemas_without_create: schemas_without_create.into_iter().collect(),
            event_triggers: owned(event_triggers),
            relations: relations
                .into_iter()
                .map(|(schema, name, owner, ours, member)| {
                    (
                        (schema, name),
                        Relation {
                            owner: Owner { name: owner, ours },
                            extension_member: member,
                        },
                    )
                })
                .collect(),
            available: available.into_iter().collect(),
        })
    }
}

/// The plan, and the entries pg_restore is told to leave out.
#[derive(Debug, Clone)]
pub struct Decision {
    pub plan: DatabaseRestorePlan,
    pub skipped: Vec<u32>,
}

/// Decides, entry by entry, what restoring `toc` into `dest` (database `database`) does.
pub fn decide(toc: &Toc, dest: &Destination, database: &str) -> Decision {
    let mut kept = Vec::new();
    let mut needs_admin = Vec::new();
    let mut skipped = Vec::new();
    let mut recreated: BTreeMap<String, u64> = BTreeMap::new();
    // Objects left as they are, by kind and name, so their comments are left too.
    let mut left: Vec<(&str, String)> = Vec::new();
    let created_tables: Vec<(Option<&str>, &str)> = toc
        .of_kind("TABLE")
        .map(|e| (e.schema.as_deref(), e.name.as_str()))
        .collect();
    // Schemas the dump creates belong to the role; existing ones must let it create objects.
    let created_schemas: Vec<&str> = toc
        .of_kind("SCHEMA")
        .filter(|e| !dest.schemas.contains_key(&e.name))
        .map(|e| e.name.as_str())
        .collect();
    let mut closed_schemas: Vec<&str> = Vec::new();
    let keep = |entry: &TocEntry, kind: &str, reason: String| PlannedObject {
        kind: kind.to_owned(),
        name: entry.name.clone(),
        reason,
        fix: None,
        command: None,
    };

    for entry in &toc.entries {
        if let Some(schema) = entry.schema.as_deref() {
            let creates = CREATED_IN_SCHEMA.contains(&entry.kind.as_str());
            if creates
                && !dest.superuser
                && dest.schemas_without_create.contains(schema)
                && !created_schemas.contains(&schema)
                && !closed_schemas.contains(&schema)
            {
                closed_schemas.push(schema);
                needs_admin.push(PlannedObject {
                    kind: "schema".into(),
                    name: schema.to_owned(),
                    reason: format!("{} may not create objects in it", dest.role),
                    fix: Some("the schema's owner runs".into()),
                    command: Some(format!(
                        "GRANT CREATE ON SCHEMA {} TO {}",
                        quote_ident(schema),
                        quote_ident(&dest.role)
                    )),
                });
            }
        }
        match entry.kind.as_str() {
            "EXTENSION" => match dest.extensions.get(&entry.name) {
                // Never dropped: other objects at the destination may depend on it too.
                Some(owner) => {
                    kept.push(keep(
                        entry,
                        "extension",
                        format!("already installed, owned by {}", owner.name),
                    ));
                    left.push(("EXTENSION", entry.name.clone()));
                    skipped.push(entry.id);
                }
                None => match dest.available.get(&entry.name) {
                    None => needs_admin.push(PlannedObject {
                        fix: Some(format!(
                            "install the package that provides “{}” on the database server",
                            entry.name
                        )),
                        ..keep(entry, "extension", "not available on this server".into())
                    }),
                    Some(&trusted) if dest.superuser || (trusted && dest.can_create) => {
                        *recreated.entry("extension".into()).or_default() += 1;
                    }
                    Some(_) => needs_admin.push(PlannedObject {
                        fix: Some("a superuser runs".into()),
                        command: Some(format!(
                            "psql -d {} -c {}",
                            shell_word(database),
                            shell_quote(&format!(
                                "CREATE EXTENSION IF NOT EXISTS {}",
                                quote_ident(&entry.name)
                            ))
                        )),
                        ..keep(
                            entry,
                            "extension",
                            format!("not installed, and {} may not create it", dest.role),
                        )
                    }),
                },
            },
            // An existing schema is never dropped: it may hold objects the dump does not
            // have, and `public` belongs to the database's owner, not to the dump.
            "SCHEMA" => match dest.schemas.get(&entry.name) {
                Some(owner) => {
                    kept.push(keep(
                        entry,
                        "schema",
                        format!("already exists, owned by {}", owner.name),
                    ));
                    if !owner.ours {
                        left.push(("SCHEMA", entry.name.clone()));
                    }
                    skipped.push(entry.id);
                }
                None if dest.superuser || dest.can_create => {
                    *recreated.entry("schema".into()).or_default() += 1;
                }
                None => needs_admin.push(PlannedObject {
                    fix: Some("the database's owner runs".into()),
                    command: Some(format!(
                        "GRANT CREATE ON DATABASE {} TO {}",
                        quote_ident(database),
                        quote_ident(&dest.role)
                    )),
                    ..keep(
                        entry,
                        "schema",
                        format!("does not exist, and {} may not create schemas", dest.role),
                    )
                }),
            },
            "EVENT TRIGGER" => match dest.event_triggers.get(&entry.name) {
                Some(owner) if !owner.ours => {
                    kept.push(keep(
                        entry,
                        "event trigger",
                        format!("already exists, owned by {}", owner.name),
                    ));
                    left.push(("EVENT TRIGGER", entry.name.clone()));
                    skipped.push(entry.id);
                }
                _ if dest.superuser => {
                    *recreated.entry("event trigger".into()).or_default() += 1;
                }
                _ => needs_admin.push(PlannedObject {
                    fix: Some(format!(
                        "a superuser creates it in {database}: its definition is in the downloaded dump (pg_restore -l, then -L with only this entry)"
                    )),
                    ..keep(
                        entry,
                        "event trigger",
                        "does not exist, and only a superuser may create event triggers".into(),
                    )
                }),
            },
            "TABLE" | "SEQUENCE" | "VIEW" | "MATERIALIZED VIEW" | "FOREIGN TABLE" => {
                let key = (entry.schema.clone().unwrap_or_default(), entry.name.clone());
                match dest.relations.get(&key) {
                    Some(relation) if !relation.owner.ours => {
                        needs_admin.push(PlannedObject {
                            kind: entry.kind.to_lowercase(),
                            name: format!("{}.{}", key.0, key.1),
                            reason: format!(
                                "owned by {}, so {} cannot replace it",
                                relation.owner.name, dest.role
                            ),
                            fix: Some(format!("{} or a superuser runs", relation.owner.name)),
                            command: Some(format!(
                                "ALTER {} {}.{} OWNER TO {}",
                                entry.kind,
                                quote_ident(&key.0),
                                quote_ident(&key.1),
                                quote_ident(&dest.role)
                            )),
                        });
                    }
                    _ => *recreated.entry(entry.kind.to_lowercase()).or_default() += 1,
                }
            }
            // Data for a table the dump does not create is an extension's configuration
            // table; the extension kept at the destination keeps its own rows.
            "TABLE DATA"
                if !created_tables.contains(&(entry.schema.as_deref(), entry.name.as_str())) =>
            {
                let key = (entry.schema.clone().unwrap_or_default(), entry.name.clone());
                if dest
                    .relations
                    .get(&key)
                    .is_some_and(|r| r.extension_member)
                {
                    kept.push(PlannedObject {
                        kind: "extension table".into(),
                        name: format!("{}.{}", key.0, key.1),
                        reason: "its extension is kept, with the rows it has".into(),
                        fix: None,
                        command: None,
                    });
                    skipped.push(entry.id);
                }
            }
            "COMMENT" | "SECURITY LABEL" | "ACL"
                if left
                    .iter()
                    .any(|(kind, name)| comment_is_on(&entry.name, kind, name)) =>
            {
                skipped.push(entry.id);
            }
            "FUNCTION" | "PROCEDURE" | "AGGREGATE" | "TYPE" | "DOMAIN" | "INDEX" | "TRIGGER"
            | "RULE" | "POLICY" | "COLLATION" | "OPERATOR" | "CAST" => {
                *recreated.entry(entry.kind.to_lowercase()).or_default() += 1;
            }
            _ => {}
        }
    }
    Decision {
        plan: DatabaseRestorePlan {
            database: database.to_owned(),
            role: dest.role.clone(),
            recreated: recreated
                .into_iter()
                .map(|(kind, count)| ObjectCount { kind, count })
                .collect(),
            kept,
            needs_admin,
        },
        skipped,
    }
}

/// Whether a comment's or grant's tag (`EXTENSION "uuid-ossp"`, `SCHEMA reporting`) names this
/// object; pg_dump quotes names that need it.
fn comment_is_on(tag: &str, kind: &str, name: &str) -> bool {
    tag.strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(' '))
        .is_some_and(|target| target == name || target == quote_ident(name))
}

/// Kinds of entry that create an object inside their schema.
const CREATED_IN_SCHEMA: &[&str] = &[
    "TABLE",
    "SEQUENCE",
    "VIEW",
    "MATERIALIZED VIEW",
    "FOREIGN TABLE",
    "FUNCTION",
    "PROCEDURE",
    "AGGREGATE",
    "TYPE",
    "DOMAIN",
    "COLLATION",
];

/// A whole argument for a POSIX shell, in single quotes.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

fn shell_word(word: &str) -> String {
    if word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "\
        3; 3079 16423 EXTENSION - pg_trgm \n\
        3449; 0 0 COMMENT - EXTENSION pg_trgm \n\
        4; 3079 16504 EXTENSION - uuid-ossp \n\
        3451; 0 0 COMMENT - EXTENSION \"uuid-ossp\" \n\
        5; 3079 16505 EXTENSION - dblink \n\
        6; 2615 2200 SCHEMA - reporting admin\n\
        7; 0 0 COMMENT - SCHEMA reporting admin\n\
        218; 1259 16516 TABLE public t shop\n\
        217; 1259 16515 SEQUENCE public t_id_seq shop\n\
        3442; 0 16516 TABLE DATA public t shop\n\
        3443; 0 16600 TABLE DATA public spatial_ref_sys postgres\n\
        219; 1259 16517 TABLE reporting daily admin\n\
        3296; 1259 16525 INDEX public t_name_idx shop\n";

    fn owner(name: &str, ours: bool) -> Owner {
        Owner {
            name: name.into(),
            ours,
        }
    }

    fn app_role() -> Destination {
        Destination {
            role: "shop".into(),
            superuser: false,
            can_create: true,
            extensions: [("pg_trgm".into(), owner("postgres", false))].into(),
            schemas: [
                ("public".into(), owner("pg_database_owner", true)),
                ("reporting".into(), owner("admin", false)),
            ]
            .into(),
            schemas_without_create: HashSet::new(),
            event_triggers: HashMap::new(),
            relations: [(
                ("public".into(), "spatial_ref_sys".into()),
                Relation {
                    owner: owner("postgres", false),
                    extension_member: true,
                },
            )]
            .into(),
            available: [
                ("pg_trgm".into(), true),
                ("uuid-ossp".into(), true),
                ("dblink".into(), false),
            ]
            .into(),
        }
    }

    #[test]
    fn installed_extensions_and_others_schemas_are_kept_with_their_comments() {
        let mut dest = app_role();
        dest.available.insert("dblink".into(), true);
        let decision = decide(&Toc::parse(LISTING), &dest, "shopdb");
        assert_eq!(decision.skipped, [3, 3449, 6, 7, 3443]);
        let kept: Vec<(&str, &str)> = decision
            .plan
            .kept
            .iter()
            .map(|o| (o.kind.as_str(), o.name.as_str()))
            .collect();
        assert_eq!(
            kept,
            [
                ("extension", "pg_trgm"),
                ("schema", "reporting"),
                ("extension table", "public.spatial_ref_sys")
            ]
        );
        assert!(decision.plan.needs_admin.is_empty());
        assert!(decision.plan.refusal().is_none());
        let count = |kind: &str| {
            decision
                .plan
                .recreated
                .iter()
                .find(|c| c.kind == kind)
                .map(|c| c.count)
        };
        assert_eq!(count("table"), Some(2));
        assert_eq!(count("extension"), Some(2), "uuid-ossp and dblink created");
        assert_eq!(count("index"), Some(1));
    }

    #[test]
    fn an_extension_the_role_may_not_create_stops_the_restore_with_the_fix() {
        let decision = decide(&Toc::parse(LISTING), &app_role(), "shopdb");
        let refusal = decision.plan.refusal().expect("refused");
        assert_eq!(refusal.code, ErrorCode::PgNeedsAdmin);
        assert!(
            refusal.message.contains("extension dblink")
                && refusal
                    .message
                    .contains("psql -d shopdb -c 'CREATE EXTENSION IF NOT EXISTS \"dblink\"'"),
            "{}",
            refusal.message
        );
        let mut missing = app_role();
        missing.available.remove("dblink");
        let decision = decide(&Toc::parse(LISTING), &missing, "shopdb");
        assert!(decision.plan.needs_admin[0]
            .reason
            .contains("not available on this server"));
    }

    #[test]
    fn a_superuser_creates_what_is_missing() {
        let mut dest = app_role();
        dest.superuser = true;
        dest.can_create = false;
        let decision = decide(&Toc::parse(LISTING), &dest, "shopdb");
        assert!(decision.plan.needs_admin.is_empty());
    }

    #[test]
    fn a_table_owned_by_another_role_needs_its_owner() {
        let mut dest = app_role();
        dest.available.insert("dblink".into(), true);
        dest.relations.insert(
            ("reporting".into(), "daily".into()),
            Relation {
                owner: owner("admin", false),
                extension_member: false,
            },
        );
        let decision = decide(&Toc::parse(LISTING), &dest, "shopdb");
        let [blocked] = decision.plan.needs_admin.as_slice() else {
            panic!("{:?}", decision.plan.needs_admin);
        };
        assert_eq!(blocked.name, "reporting.daily");
        assert_eq!(
            blocked.remedy().as_deref(),
            Some(
                "admin or a superuser runs: ALTER TABLE \"reporting\".\"daily\" OWNER TO \"shop\""
            )
        );
    }

    #[test]
    fn comments_are_matched_to_their_object_quoted_or_not() {
        assert!(comment_is_on(
            "EXTENSION \"uuid-ossp\"",
            "EXTENSION",
            "uuid-ossp"
        ));
        assert!(comment_is_on("SCHEMA \"user\"", "SCHEMA", "user"));
        assert!(comment_is_on("SCHEMA reporting", "SCHEMA", "reporting"));
        assert!(!comment_is_on("EXTENSION pg_trgm2", "EXTENSION", "pg_trgm"));
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn a_schema_the_role_may_not_create_in_needs_a_grant() {
        let mut dest = app_role();
        dest.available.insert("dblink".into(), true);
        dest.schemas_without_create.insert("public".into());
        let decision = decide(&Toc::parse(LISTING), &dest, "shopdb");
        let [blocked] = decision.plan.needs_admin.as_slice() else {
            panic!("{:?}", decision.plan.needs_admin);
        };
        assert_eq!(
            (blocked.kind.as_str(), blocked.name.as_str()),
            ("schema", "public")
        );
        assert_eq!(
            blocked.remedy().as_deref(),
            Some("the schema's owner runs: GRANT CREATE ON SCHEMA \"public\" TO \"shop\"")
        );
    }
}
