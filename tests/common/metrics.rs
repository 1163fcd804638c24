//! The operator's `/metrics` (Prometheus text format), read the way a scraper
//! reads it: series by name and labels, not by line position.

/// One read of `/metrics`.
pub struct Scrape {
    /// (name, labels as written between the braces, value) per series.
    pub samples: Vec<(String, String, f64)>,
    pub text: String,
}

impl Scrape {
    /// `GET /metrics` on 127.0.0.1:`port`; `None` unless it answers 200.
    pub fn get(port: u16) -> Option<Scrape> {
        match super::http::http(port, "GET", "/metrics")? {
            (200, body) => Some(Scrape::parse(body)),
            _ => None,
        }
    }

    pub fn parse(text: String) -> Scrape {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let value: f64 = value.parse().ok()?;
                let (name, labels) = match series.split_once('{') {
                    Some((name, labels)) => (name, labels.trim_end_matches('}')),
                    None => (series, ""),
                };
                Some((name.to_string(), labels.to_string(), value))
            })
            .collect();
        Scrape { samples, text }
    }

    /// Sum over the series of `name` whose labels include every `k="v"`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = None;
        for (n, l, v) in &self.samples {
            if n == name
                && labels
                    .iter()
                    .all(|(k, val)| l.contains(&format!("{k}=\"{val}\"")))
            {
                *found.get_or_insert(0.0) += v;
            }
        }
        found
    }

    /// The operator's own series, without histogram buckets.
    pub fn digest(&self) -> Vec<String> {
        self.text
            .lines()
            .filter(|l| l.starts_with("interdict_") && !l.contains("_bucket{"))
            .map(String::from)
            .collect()
    }
}
