//! Command-line flags over the options: [`Options::apply_flags`] applies what the flags set
//! (flags win over the config file), then the defaults and the startup checks.
//!
//! Mirrors the flag half of nats-server's `ConfigureOptions` in `server/opts.go`: the second
//! `fs.Parse` over the config's values, the `-DV`/`-DVV`/`-VV` combinations,
//! `overrideCluster` and `overrideTLS`.

use crate::cli::Flags;

use super::cluster;
use super::{ClusterOpts, Error, Options};

impl Options {
    /// Applies the command-line flags over the current options (flags win),
    /// then the defaults and the startup checks.
    ///
    /// `-DV`, `-DVV` and `-VV` are applied after `-D`/`-V`, as nats-server
    /// does. Cluster and route flags set [`Options::cluster`]; JetStream and
    /// profiling flags are recorded in `Options::not_implemented`.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for a bad flag combination (`--tls` without
    /// `--tlscert`, `--routes` without a cluster, …) or a failed startup
    /// check (see [`Options::validate`]).
    pub fn apply_flags(&mut self, flags: &Flags) -> Result<(), Error> {
        self.apply_flag_values(flags);
        self.apply_flag_combinations(flags);
        self.apply_flag_cluster(flags)?;
        self.apply_flag_tls(flags)?;
        self.set_baseline();
        self.validate_operator_mode()?;
        self.validate()
    }

    /// Flags that simply replace a value (Go's second `fs.Parse`).
    fn apply_flag_values(&mut self, flags: &Flags) {
        set(&mut self.port, flags.port);
        set(&mut self.host, flags.host.clone());
        set(&mut self.server_name, flags.server_name.clone());
        set(&mut self.client_advertise, flags.client_advertise.clone());
        set(&mut self.debug, flags.debug);
        set(&mut self.trace, flags.trace);
        set(&mut self.logtime, flags.logtime);
        set(&mut self.logtime_utc, flags.logtime_utc);
        set(&mut self.authorization.user, flags.user.clone());
        set(&mut self.authorization.password, flags.pass.clone());
        set(&mut self.authorization.token, flags.auth.clone());
        set(&mut self.http_port, flags.http_port);
        set(&mut self.https_port, flags.https_port);
        set(&mut self.pid_file, flags.pid_file.clone());
        set(&mut self.ports_file_dir, flags.ports_file_dir.clone());
        set(&mut self.log_file, flags.log_file.clone());
        set(&mut self.log_size_limit, flags.log_size_limit);
        set(&mut self.syslog, flags.syslog);
        set(&mut self.remote_syslog, flags.remote_syslog.clone());
        set(&mut self.max_traced_msg_len, flags.max_traced_msg_len);
        if let Some(workers) = flags.workers {
            self.workers = Some(workers).filter(|&w| w > 0);
        }
        if flags.profile.is_some() {
            self.not_implemented("prof_port");
        }
        match flags.jetstream {
            Some(true) => self.not_implemented("jetstream"),
            Some(false) => self.forget_not_implemented("jetstream"),
            None => {}
        }
        if flags.store_dir.is_some() {
            self.not_implemented("store_dir");
        }
    }

    /// `-DV`, `-DVV` and `-VV`, which nats-server applies after the single
    /// flags, in this order.
    fn apply_flag_combinations(&mut self, flags: &Flags) {
        if let Some(on) = flags.debug_and_trace {
            (self.debug, self.trace) = (on, on);
        }
        if let Some(on) = flags.debug_and_trace_verbose {
            (self.debug, self.trace, self.trace_verbose) = (on, on, on);
        }
        if let Some(on) = flags.trace_and_verbose {
            (self.trace, self.trace_verbose) = (on, on);
        }
    }

    /// `--cluster`/`--cluster_listen` (`overrideCluster`): the route listener and its
    /// credentials from a URL (cleared when it has none); an empty value turns clustering
    /// off. Then the other cluster flags and `--routes`.
    fn apply_flag_cluster(&mut self, flags: &Flags) -> Result<(), Error> {
        match flags.cluster_listen.as_deref() {
            Some("") => self.cluster = None,
            Some(url) => {
                let listen = cluster::listen_url(url).map_err(Error::Invalid)?;
                let c = self.cluster.get_or_insert_with(ClusterOpts::default);
                (c.host, c.port) = (listen.host, listen.port);
                (c.user, c.password) = (listen.user, listen.password);
                c.listen_configured = true;
            }
            None => {}
        }
        self.apply_flag_cluster_values(flags)?;
        self.apply_flag_routes(flags)
    }

    /// `--cluster_name`, `--cluster_advertise`, `--no_advertise` and `--connect_retries`
    /// replace the configured values (`--no_advertise=false` too, as nats-server's second
    /// flag parse does). Without a cluster they have nothing to change, but a name with
    /// spaces is still refused, as nats-server does.
    fn apply_flag_cluster_values(&mut self, flags: &Flags) -> Result<(), Error> {
        let Some(c) = self.cluster.as_mut() else {
            if flags
                .cluster_name
                .as_deref()
                .is_some_and(|n| n.contains(' '))
            {
                return Err(Error::Invalid(cluster::NAME_HAS_SPACES.into()));
            }
            return Ok(());
        };
        set(&mut c.name, flags.cluster_name.clone());
        set(&mut c.advertise, flags.cluster_advertise.clone());
        set(&mut c.no_advertise, flags.no_advertise);
        set(&mut c.connect_retries, flags.connect_retries);
        Ok(())
    }

    /// `--routes a,b`: replaces the configured routes (an empty value clears them). Routes
    /// need a cluster listen address, from the config or `--cluster`.
    fn apply_flag_routes(&mut self, flags: &Flags) -> Result<(), Error> {
        let Some(list) = flags.routes.as_deref() else {
            return Ok(());
        };
        if list.is_empty() {
            if let Some(c) = self.cluster.as_mut() {
                c.routes.clear();
            }
            return Ok(());
        }
        let Some(c) = self.cluster.as_mut().filter(|c| c.listen_configured) else {
            return Err(Error::Invalid(
                "solicited routes require cluster capabilities, e.g. --cluster".into(),
            ));
        };
        c.routes = cluster::routes_from_flag(list).map_err(Error::Invalid)?;
        Ok(())
    }

    /// `--tls*` (`overrideTLS`): `--tls=false` turns TLS off; any other TLS
    /// flag rebuilds the certificate settings from the flags alone (the config's timeout,
    /// mapping and handshake settings stay, as in nats-server).
    fn apply_flag_tls(&mut self, flags: &Flags) -> Result<(), Error> {
        if flags.tls == Some(false) {
            self.tls = None;
            return Ok(());
        }
        let any = flags.tls.is_some()
            || flags.tls_verify.is_some()
            || flags.tls_cert.is_some()
            || flags.tls_key.is_some()
            || flags.tls_ca_cert.is_some();
        if !any {
            return Ok(());
        }
        if flags.tls_cert.as_deref().unwrap_or_default().is_empty() {
            return Err(Error::Invalid(
                "TLS Server certificate must be present and valid".into(),
            ));
        }
        if flags.tls_key.as_deref().unwrap_or_default().is_empty() {
            return Err(Error::Invalid(
                "TLS Server private key must be present and valid".into(),
            ));
        }
        let mut tls = crate::tls::TlsOptions::from_flags(
            self.tls.as_ref(),
            flags.tls_cert.as_deref().unwrap_or_default(),
            flags.tls_key.as_deref().unwrap_or_default(),
            flags.tls_ca_cert.as_deref().unwrap_or_default(),
            flags.tls_verify.unwrap_or(false),
        );
        tls.build().map_err(Error::Invalid)?;
        self.tls = Some(tls);
        Ok(())
    }
}

fn set<T>(field: &mut T, flag: Option<T>) {
    if let Some(value) = flag {
        *field = value;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::opts::test_support::{temp_dir, with_flags};
    use crate::opts::RANDOM_PORT;

    #[test]
    fn flags_override_config() {
        let text = "port: 1\nhost: 10.0.0.1\ndebug: true\nlogtime: false\n\
                    authorization { user: a, password: b }\nserver_name: s1\npid_file: p";
        let o = with_flags(
            text,
            &[
                "-p",
                "2",
                "-a",
                "127.0.0.1",
                "-D=false",
                "--user",
                "u",
                "--pass",
                "p2",
                "-n",
                "s2",
                "-P",
                "",
            ],
        )
        .unwrap();
        assert_eq!((o.port, o.host.as_str(), o.debug), (2, "127.0.0.1", false));
        assert_eq!(
            (
                o.authorization.user.as_str(),
                o.authorization.password.as_str()
            ),
            ("u", "p2")
        );
        assert_eq!(o.server_name, "s2");
        assert_eq!(o.pid_file, "");
        // Flags not given leave the config alone, including logtime=false.
        let o = with_flags(text, &["-V"]).unwrap();
        assert!(o.debug && o.trace && !o.logtime);
        assert_eq!(o.port, 1);
        // The monitoring host follows the client host unless configured.
        assert_eq!(
            with_flags("", &["-a", "127.0.0.2"]).unwrap().http_host,
            "127.0.0.2"
        );
        assert_eq!(
            with_flags("", &["--auth", "tok"])
                .unwrap()
                .authorization
                .token,
            "tok"
        );
        assert_eq!(
            with_flags("", &["--workers", "2"]).unwrap().workers,
            Some(2)
        );
    }

    #[test]
    fn combined_log_flags() {
        let o = with_flags("", &["-DV"]).unwrap();
        assert!(o.debug && o.trace && !o.trace_verbose);
        let o = with_flags("", &["-DVV"]).unwrap();
        assert!(o.debug && o.trace && o.trace_verbose);
        let o = with_flags("", &["-VV"]).unwrap();
        assert!(!o.debug && o.trace && o.trace_verbose);
        // -DV=false wins over -D, as in nats-server.
        let o = with_flags("", &["-D", "-DV=false"]).unwrap();
        assert!(!o.debug && !o.trace);
        let o = with_flags("debug: true\ntrace: true", &["-DV=false"]).unwrap();
        assert!(!o.debug && !o.trace);
    }

    #[test]
    fn random_port_flag() {
        let o = with_flags("port: 5000", &["-p", "-1"]).unwrap();
        assert_eq!(o.port, RANDOM_PORT);
        // Applying again keeps it random, and -p 0 means the default.
        let mut again = o.clone();
        again.apply_flags(&Flags::default()).unwrap();
        assert_eq!(again.port, RANDOM_PORT);
        assert_eq!(with_flags("port: 5000", &["-p", "0"]).unwrap().port, 4222);
    }

    #[test]
    fn cluster_route_tls_and_jetstream_flags() {
        let o = with_flags(
            "",
            &[
                "--cluster",
                "nats://0.0.0.0:6222",
                "--routes",
                "nats://a:6222, nats://b:6222",
            ],
        )
        .unwrap();
        assert!(o.not_implemented.is_empty());
        let cluster = o.cluster.as_ref().unwrap();
        assert_eq!((cluster.host.as_str(), cluster.port), ("0.0.0.0", 6222));
        let routes: Vec<&str> = cluster.routes.iter().map(|r| r.raw.as_str()).collect();
        assert_eq!(routes, ["nats://a:6222", "nats://b:6222"]);
        let o = with_flags("", &["--cluster", "nats://u:p@0.0.0.0:-1"]).unwrap();
        assert_eq!(o.cluster.as_ref().map(|c| c.port), Some(RANDOM_PORT));
        assert_eq!(
            with_flags("", &["--cluster", "nats://u@0.0.0.0:6222"])
                .unwrap_err()
                .to_string(),
            "expected cluster password to be set"
        );
        assert_eq!(
            with_flags("", &["--cluster", "nats://0.0.0.0"])
                .unwrap_err()
                .to_string(),
            "address 0.0.0.0: missing port in address"
        );
        assert_eq!(
            with_flags("", &["--routes", "nats://a:6222"])
                .unwrap_err()
                .to_string(),
            "solicited routes require cluster capabilities, e.g. --cluster"
        );
        assert!(with_flags("", &["--routes", ""]).is_ok());
        let o = with_flags("cluster { port: 6222 }", &["--cluster", ""]).unwrap();
        assert!(o.not_implemented.is_empty() && o.cluster.is_none());

        assert_eq!(
            with_flags("", &["--tls"]).unwrap_err().to_string(),
            "TLS Server certificate must be present and valid"
        );
        assert_eq!(
            with_flags("", &["--tlscert", "c"]).unwrap_err().to_string(),
            "TLS Server private key must be present and valid"
        );
        assert_eq!(
            with_flags("", &["--tlscert", "c", "--tlskey", "k", "--tlsverify"])
                .unwrap_err()
                .to_string(),
            "error parsing X509 certificate/key pair: open c: no such file or directory"
        );
        let dir = temp_dir("tls-flags");
        let certs = crate::tls::config::test_certs::write(&dir);
        let (cert, key) = (certs.cert.display(), certs.key.display());
        let (cert, key, ca) = (
            cert.to_string(),
            key.to_string(),
            certs.ca.display().to_string(),
        );
        let conf = format!("tls {{ cert_file: \"{cert}\", key_file: \"{key}\", timeout: 5 }}");
        let o = with_flags(
            &conf,
            &[
                "--tlscert",
                &cert,
                "--tlskey",
                &key,
                "--tlsverify",
                "--tlscacert",
                &ca,
            ],
        )
        .unwrap();
        let tls = o.tls.as_ref().unwrap();
        assert!(tls.verify && tls.server.as_ref().unwrap().client_cert_required);
        // The config's timeout stays, and the auth timeout follows it.
        assert_eq!(
            (tls.timeout(), o.auth_timeout),
            (Duration::from_secs(5), Duration::from_secs(6))
        );
        let o = with_flags(&conf, &["--tls=false", "--tlscert", &cert]).unwrap();
        assert!(o.tls.is_none());
        assert_eq!(o.auth_timeout, Duration::from_secs(2));
        assert!(o.not_implemented.is_empty());

        let o = with_flags("", &["-js", "-sd", "/data", "--profile", "6060"]).unwrap();
        assert_eq!(o.not_implemented, ["prof_port", "jetstream", "store_dir"]);
        let o = with_flags("jetstream: true", &["-js=false"]).unwrap();
        assert!(o.not_implemented.is_empty());
    }
}
