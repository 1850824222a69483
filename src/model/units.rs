//! Kubernetes quantities (`5Gi`, `500m`) and durations (`90s`, `2h`), parsed and checked before
//! anything is sent to a cluster: an API server answers a bad quantity in a server-side apply with
//! a 500, not a helpful 422.

use std::fmt;

/// A Kubernetes resource quantity, kept as written (that is what is rendered) with its value.
#[derive(Clone, Debug)]
pub struct Quantity {
    text: String,
    value: f64,
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Quantity {
    /// Parses the Kubernetes quantity grammar: a signed decimal number, then one of the binary
    /// suffixes `Ki Mi Gi Ti Pi Ei`, the decimal suffixes `m k M G T P E`, or an exponent `e3`.
    pub fn parse(s: &str) -> Result<Quantity, String> {
        let bad = || format!("`{s}` is not a Kubernetes quantity");
        let t = s.trim();
        if t.is_empty() || t != s {
            return Err(bad());
        }
        let (sign, rest) = match t.as_bytes()[0] {
            b'+' => (1.0, &t[1..]),
            b'-' => (-1.0, &t[1..]),
            _ => (1.0, t),
        };
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (num, suffix) = rest.split_at(num_len);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(bad());
        }
        let number: f64 = num.parse().map_err(|_| bad())?;
        let multiplier = match suffix {
            "" => 1.0,
            "Ki" => 1024f64,
            "Mi" => 1024f64.powi(2),
            "Gi" => 1024f64.powi(3),
            "Ti" => 1024f64.powi(4),
            "Pi" => 1024f64.powi(5),
            "Ei" => 1024f64.powi(6),
            "m" => 1e-3,
            "k" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            "T" => 1e12,
            "P" => 1e15,
            "E" => 1e18,
            e if e.starts_with(['e', 'E']) => {
                let exp = &e[1..];
                let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                10f64.powi(exp.parse::<i32>().map_err(|_| bad())?)
            }
            _ => return Err(bad()),
        };
        Ok(Quantity { text: s.to_string(), value: sign * number * multiplier })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The numeric value (bytes for memory and storage, cores for CPU).
    pub fn value(&self) -> f64 {
        self.value
    }

    /// Same amount, however written (`1Gi` and `1073741824`).
    pub fn same_amount(&self, other: &Quantity) -> bool {
        (self.value - other.value).abs() <= f64::EPSILON * self.value.abs().max(1.0)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A duration written like `90s`, `10m`, `2h`, `1h30m` or `1d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration {
    pub seconds: u64,
}

impl Duration {
    pub fn parse(s: &str) -> Result<Duration, String> {
        let bad = || format!("`{s}` is not a duration (write it like `90s`, `10m`, `2h` or `1h30m`)");
        if s.is_empty() {
            return Err(bad());
        }
        let mut total: u64 = 0;
        let mut digits = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86400,
                _ => return Err(bad()),
            };
            let n: u64 = digits.parse().map_err(|_| bad())?;
            total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
            digits.clear();
        }
        if !digits.is_empty() {
            return Err(bad());
        }
        Ok(Duration { seconds: total })
    }

    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.seconds)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (self.seconds / 3600, self.seconds / 60 % 60, self.seconds % 60);
        let mut out = String::new();
        if h > 0 {
            out += &format!("{h}h");
        }
        if m > 0 {
            out += &format!("{m}m");
        }
        if s > 0 || out.is_empty() {
            out += &format!("{s}s");
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        for ok in ["5Gi", "1", "0.5", ".5", "500m", "1e3", "1E-2", "+1k", "16", "128974848"] {
            assert!(Quantity::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "5 gigs", "5GB", "Gi", "1.2.3", "1e", " 1", "1gi", "e3", "--1"] {
            assert!(Quantity::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Quantity::parse("1Gi").unwrap().value(), 1073741824.0);
        assert!(Quantity::parse("1Gi").unwrap().same_amount(&Quantity::parse("1073741824").unwrap()));
        assert!(Quantity::parse("500m").unwrap().same_amount(&Quantity::parse("0.5").unwrap()));
    }

    #[test]
    fn durations() {
        assert_eq!(Duration::parse("90s").unwrap().seconds, 90);
        assert_eq!(Duration::parse("1h30m").unwrap().seconds, 5400);
        assert_eq!(Duration::parse("2d").unwrap().seconds, 172800);
        for bad in ["", "10", "1x", "h", "1.5h", "99999999999999999999s"] {
            assert!(Duration::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Duration::parse("5400s").unwrap().to_string(), "1h30m");
    }
}
