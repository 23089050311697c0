//! The JWT directory of the NATS-based account resolvers (spec sys.md §5.4): one file
//! `<account key>.jwt` per account in `dir`, kept in memory too. `full` keeps every JWT it is
//! given (up to `limit`); `cache` keeps the most recently used `limit` JWTs for `ttl`.
//!
//! The store only keeps tokens; checking them against the operators is the trust state's job.

use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `resolver { type: full|cache, dir, … }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirConfig {
    /// `type: cache` (else `full`).
    pub cache: bool,
    /// Where the JWT files live.
    pub dir: PathBuf,
    /// `allow_delete`: `$SYS.REQ.CLAIMS.DELETE` is served.
    pub allow_delete: bool,
    /// `hard_delete`: deleted files are removed rather than renamed `.deleted`.
    pub hard_delete: bool,
    /// `interval`: how often a full resolver asks the others for their JWTs.
    pub interval: Duration,
    /// `limit`: most JWTs kept; 0 = no limit.
    pub limit: usize,
    /// `ttl`: how long a cache keeps a JWT; zero = until evicted.
    pub ttl: Duration,
    /// `timeout`: how long a lookup waits for another server.
    pub timeout: Duration,
}

/// nats-server's defaults: sync every minute, a cache of 1000, lookups wait 1.9 s.
pub const SYNC_INTERVAL_DEFAULT: Duration = Duration::from_secs(60);
/// Cache size when `limit` is not set.
pub const CACHE_LIMIT_DEFAULT: usize = 1000;
/// Lookup timeout when `timeout` is not set.
pub const FETCH_TIMEOUT_DEFAULT: Duration = Duration::from_millis(1900);

const EXTENSION: &str = ".jwt";

#[derive(Debug)]
struct Entry {
    jwt: String,
    hash: [u8; 32],
    /// Last use, for the cache's eviction order.
    used: u64,
    stored: Instant,
}

/// What a store call changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// The JWT is new or different: the live account must follow.
    Changed,
    /// Same JWT, or older than the one kept.
    Unchanged,
}

/// The directory and its in-memory index.
#[derive(Debug)]
pub struct DirStore {
    /// Its configuration.
    pub config: DirConfig,
    entries: Mutex<(HashMap<String, Entry>, u64)>,
}

impl DirStore {
    /// Opens `config.dir`, creating it if missing, and reads the JWTs already there.
    ///
    /// # Errors
    /// The directory can't be created or read.
    pub fn open(config: DirConfig) -> Result<DirStore, String> {
        std::fs::create_dir_all(&config.dir).map_err(|e| e.to_string())?;
        let mut entries = HashMap::new();
        let listing = std::fs::read_dir(&config.dir).map_err(|e| e.to_string())?;
        for item in listing.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            let Some(key) = name.strip_suffix(EXTENSION) else {
                continue;
            };
            if config.limit > 0 && entries.len() >= config.limit {
                break;
            }
            if let Ok(jwt) = std::fs::read_to_string(item.path()) {
                entries.insert(key.to_string(), entry(jwt, 0));
            }
        }
        Ok(DirStore {
            config,
            entries: Mutex::new((entries, 0)),
        })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.config.dir.join(format!("{key}{EXTENSION}"))
    }

    fn expired(&self, e: &Entry) -> bool {
        self.config.cache && !self.config.ttl.is_zero() && e.stored.elapsed() >= self.config.ttl
    }

    /// The JWT stored for `key`.
    pub fn get(&self, key: &str) -> Option<String> {
        let mut guard = self.entries.lock();
        let (entries, clock) = &mut *guard;
        *clock += 1;
        let now = *clock;
        let expired = entries.get(key).is_some_and(|e| self.expired(e));
        if expired {
            entries.remove(key);
            let _ = std::fs::remove_file(self.path(key));
            return None;
        }
        let e = entries.get_mut(key)?;
        e.used = now;
        Some(e.jwt.clone())
    }

    /// Stores `jwt` for `key` as given (the CLAIMS.UPDATE handlers).
    ///
    /// # Errors
    /// The store is full (`full` with a `limit`) or the file can't be written.
    pub fn save(&self, key: &str, jwt: &str) -> Result<Stored, String> {
        let mut guard = self.entries.lock();
        self.save_locked(&mut guard, key, jwt)
    }

    /// [`DirStore::save`] with the index already locked.
    fn save_locked(
        &self,
        guard: &mut (HashMap<String, Entry>, u64),
        key: &str,
        jwt: &str,
    ) -> Result<Stored, String> {
        let (entries, clock) = guard;
        *clock += 1;
        let now = *clock;
        if entries.get(key).is_some_and(|e| e.jwt == jwt) {
            return Ok(Stored::Unchanged);
        }
        if !entries.contains_key(key) && self.config.limit > 0 && entries.len() >= self.config.limit
        {
            if !self.config.cache {
                return Err("jwt store is full".into());
            }
            // The cache drops its least recently used JWT.
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
                let _ = std::fs::remove_file(self.path(&oldest));
            }
        }
        write_file(&self.path(key), jwt)?;
        entries.insert(key.to_string(), entry(jwt.to_string(), now));
        Ok(Stored::Changed)
    }

    /// Stores `jwt` only if it is newer than the one kept (lookups, pack merges, preload):
    /// the same `jti` or an older `iat` leaves the store as it is.
    ///
    /// # Errors
    /// The JWT names another account, the store is full, or the file can't be written.
    pub fn save_if_newer(&self, key: &str, jwt: &str) -> Result<Stored, String> {
        let new = crate::jwt::peek(jwt).ok_or_else(|| "expected 3 chunks".to_string())?;
        if new["sub"].as_str() != Some(key) {
            return Err("jwt subject nkey and provided nkey do not match".into());
        }
        // One lock for the comparison and the write, so that of two updates racing (a lookup
        // answer and a CLAIMS.UPDATE, say) the older can't overwrite the newer.
        let mut guard = self.entries.lock();
        let old = guard.0.get(key).and_then(|e| crate::jwt::peek(&e.jwt));
        if let Some(old) = old {
            if old["jti"] == new["jti"] {
                return Ok(Stored::Unchanged);
            }
            if new["iat"].as_i64().unwrap_or(0) < old["iat"].as_i64().unwrap_or(0) {
                return Ok(Stored::Unchanged);
            }
        }
        self.save_locked(&mut guard, key, jwt)
    }

    /// Removes `key`'s JWT: renamed to `<file>.deleted`, or removed with `hard_delete`.
    ///
    /// # Errors
    /// The file can't be renamed or removed.
    pub fn delete(&self, key: &str) -> Result<(), String> {
        self.entries.lock().0.remove(key);
        let path = self.path(key);
        let result = if self.config.hard_delete {
            std::fs::remove_file(&path)
        } else {
            let mut deleted = path.clone().into_os_string();
            deleted.push(".deleted");
            std::fs::rename(&path, deleted)
        };
        match result {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
            _ => Ok(()),
        }
    }

    /// Every stored, unexpired account key, sorted.
    pub fn keys(&self) -> Vec<String> {
        let guard = self.entries.lock();
        let mut keys: Vec<String> = guard
            .0
            .iter()
            .filter(|(_, e)| !self.expired(e))
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
    }

    /// `<key>|<jwt>` for every stored JWT (the pack a full resolver sends another).
    pub fn pack(&self) -> Vec<String> {
        let guard = self.entries.lock();
        let mut lines: Vec<String> = guard
            .0
            .iter()
            .filter(|(_, e)| !self.expired(e))
            .map(|(k, e)| format!("{k}|{}", e.jwt))
            .collect();
        lines.sort();
        lines
    }

    /// The store's state as one hash: the XOR of the SHA-256 of every JWT, so two stores
    /// holding the same JWTs agree whatever the order.
    pub fn hash(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for e in self.entries.lock().0.values() {
            for (o, h) in out.iter_mut().zip(e.hash) {
                *o ^= h;
            }
        }
        out
    }
}

fn entry(jwt: String, used: u64) -> Entry {
    let hash: [u8; 32] = Sha256::digest(jwt.as_bytes()).into();
    Entry {
        jwt,
        hash,
        used,
        stored: Instant::now(),
    }
}

/// Writes through a temporary file so a reader never sees half a JWT.
fn write_file(path: &Path, jwt: &str) -> Result<(), String> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, jwt).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt;

    fn account_jwt(op: &nkeys::KeyPair, acc: &nkeys::KeyPair, iat: i64, name: &str) -> String {
        let mut claims = jwt::Claims {
            sub: acc.public_key(),
            name: name.into(),
            iat,
            nats: jwt::Account {
                kind: "account".into(),
                version: 2,
                ..jwt::Account::default()
            },
            ..jwt::Claims::default()
        };
        jwt::encode(&mut claims, op).unwrap()
    }

    fn config(dir: &Path, cache: bool, limit: usize) -> DirConfig {
        DirConfig {
            cache,
            dir: dir.to_path_buf(),
            allow_delete: true,
            hard_delete: false,
            interval: SYNC_INTERVAL_DEFAULT,
            limit,
            ttl: Duration::ZERO,
            timeout: FETCH_TIMEOUT_DEFAULT,
        }
    }

    #[test]
    fn full_store_newer_wins_persists_and_deletes() {
        let dir = std::env::temp_dir().join(format!("gannet-store-{}", rand::random::<u64>()));
        let op = nkeys::KeyPair::new_operator();
        let (a, b) = (nkeys::KeyPair::new_account(), nkeys::KeyPair::new_account());
        let store = DirStore::open(config(&dir, false, 1)).unwrap();
        let v2 = account_jwt(&op, &a, 2000, "v2");
        assert_eq!(store.save(&a.public_key(), &v2).unwrap(), Stored::Changed);
        assert_eq!(store.save(&a.public_key(), &v2).unwrap(), Stored::Unchanged);
        let v1 = account_jwt(&op, &a, 1000, "v1");
        assert_eq!(
            store.save_if_newer(&a.public_key(), &v1).unwrap(),
            Stored::Unchanged
        );
        assert_eq!(
            store.save_if_newer(&b.public_key(), &v1).unwrap_err(),
            "jwt subject nkey and provided nkey do not match"
        );
        let other = account_jwt(&op, &b, 1000, "b");
        assert_eq!(
            store.save(&b.public_key(), &other).unwrap_err(),
            "jwt store is full"
        );
        assert_eq!(store.pack(), [format!("{}|{v2}", a.public_key())]);
        let hash = store.hash();
        assert_ne!(hash, [0u8; 32]);
        // A second store over the same directory sees the same JWTs.
        let again = DirStore::open(config(&dir, false, 0)).unwrap();
        assert_eq!(again.get(&a.public_key()).as_deref(), Some(v2.as_str()));
        assert_eq!(again.hash(), hash);
        again.delete(&a.public_key()).unwrap();
        assert!(again.keys().is_empty());
        assert!(dir.join(format!("{}.jwt.deleted", a.public_key())).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn cache_evicts_least_recently_used() {
        let dir = std::env::temp_dir().join(format!("gannet-cache-{}", rand::random::<u64>()));
        let op = nkeys::KeyPair::new_operator();
        let keys: Vec<nkeys::KeyPair> = (0..3).map(|_| nkeys::KeyPair::new_account()).collect();
        let store = DirStore::open(config(&dir, true, 2)).unwrap();
        for k in &keys[..2] {
            store
                .save(&k.public_key(), &account_jwt(&op, k, 1, "x"))
                .unwrap();
        }
        assert!(store.get(&keys[0].public_key()).is_some());
        store
            .save(&keys[2].public_key(), &account_jwt(&op, &keys[2], 1, "x"))
            .unwrap();
        let mut want = vec![keys[0].public_key(), keys[2].public_key()];
        want.sort();
        assert_eq!(store.keys(), want);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
