//! Accounts: isolated subject namespaces, each with its own sublist (spec §1.12, §4.11).
//!
//! Account objects live as long as the server: a reload updates their limits in place, so the
//! subscriptions of connected clients stay where they are. The registry is read at CONNECT and
//! on reload only, never per message.

use crate::auth::config::{AccountConfig, AccountLimits};
use crate::auth::GLOBAL_ACCOUNT;
use crate::sub::SubRef;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use sublist::Sublist;

/// Literal-subject shards of each account's sublist.
const SUBLIST_SHARDS: usize = 16;

/// One account.
#[derive(Debug)]
pub struct Account {
    /// The account name (`$G` for the global account).
    pub name: String,
    /// Its subscriptions.
    pub sublist: Sublist<SubRef>,
    /// Connected clients bound to it.
    pub num_conns: AtomicI64,
    /// Its configuration (limits, imports, exports); replaced on reload.
    pub config: RwLock<Arc<AccountConfig>>,
}

impl Account {
    fn new(config: AccountConfig, cache: bool) -> Account {
        Account {
            name: config.name.clone(),
            sublist: Sublist::with_options(SUBLIST_SHARDS, cache),
            num_conns: AtomicI64::new(0),
            config: RwLock::new(Arc::new(config)),
        }
    }

    /// The account's limits.
    pub fn limits(&self) -> AccountLimits {
        self.config.read().limits
    }

    /// Binds one more connection unless the account is at its connection limit.
    pub fn try_add_conn(&self) -> bool {
        let max = self.limits().max_connections;
        let n = self.num_conns.fetch_add(1, Ordering::AcqRel) + 1;
        if max > 0 && n > max {
            self.num_conns.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// A bound connection went away.
    pub fn remove_conn(&self) {
        self.num_conns.fetch_sub(1, Ordering::AcqRel);
    }
}

/// All accounts by name.
#[derive(Debug)]
pub struct Accounts {
    map: RwLock<HashMap<String, Arc<Account>>>,
    cache: bool,
}

impl Accounts {
    /// The registry with the global account and the configured ones.
    pub fn new(configs: &[AccountConfig], cache: bool) -> Accounts {
        let accounts = Accounts {
            map: RwLock::new(HashMap::new()),
            cache,
        };
        accounts.sync(configs);
        accounts
    }

    /// Looks an account up by name.
    pub fn get(&self, name: &str) -> Option<Arc<Account>> {
        self.map.read().get(name).cloned()
    }

    /// Makes the registry match a (re)loaded configuration: new accounts are created,
    /// existing ones get their new configuration, and none is dropped (clients bound to an
    /// account that left the configuration are closed by the re-authorization).
    pub fn sync(&self, configs: &[AccountConfig]) {
        let mut map = self.map.write();
        map.entry(GLOBAL_ACCOUNT.to_string()).or_insert_with(|| {
            Arc::new(Account::new(
                AccountConfig {
                    name: GLOBAL_ACCOUNT.to_string(),
                    ..AccountConfig::default()
                },
                self.cache,
            ))
        });
        for config in configs {
            match map.get(&config.name) {
                Some(acc) => *acc.config.write() = Arc::new(config.clone()),
                None => {
                    map.insert(
                        config.name.clone(),
                        Arc::new(Account::new(config.clone(), self.cache)),
                    );
                }
            }
        }
    }

    /// Every account.
    pub fn all(&self) -> Vec<Arc<Account>> {
        self.map.read().values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_keeps_accounts_and_limits_connections() {
        let a = AccountConfig {
            name: "A".into(),
            limits: AccountLimits {
                max_connections: 1,
                ..Default::default()
            },
            ..Default::default()
        };
        let accs = Accounts::new(std::slice::from_ref(&a), true);
        let before = accs.get("A").unwrap();
        assert!(accs.get(GLOBAL_ACCOUNT).is_some());
        assert!(before.try_add_conn());
        assert!(!before.try_add_conn());
        let mut a2 = a.clone();
        a2.limits.max_connections = 2;
        accs.sync(&[a2]);
        let after = accs.get("A").unwrap();
        assert!(Arc::ptr_eq(&before, &after));
        assert!(after.try_add_conn());
    }
}
