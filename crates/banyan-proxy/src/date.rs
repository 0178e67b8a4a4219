//! The `Date` a response gets when it has none: made once a second per thread, for both
//! servers.

use std::cell::RefCell;
use std::time::SystemTime;

use http::HeaderValue;

thread_local! {
    static DATE: RefCell<(u64, HeaderValue)> =
        const { RefCell::new((u64::MAX, HeaderValue::from_static(""))) };
}

/// Calls `f` with the current time as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(crate) fn with_now<R>(f: impl FnOnce(&HeaderValue) -> R) -> R {
    let now = SystemTime::now();
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|(at, value)| {
        if *at != secs {
            *at = secs;
            *value = HeaderValue::from_str(&httpdate::fmt_http_date(now))
                .unwrap_or_else(|_| HeaderValue::from_static(""));
        }
        f(value)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_date_is_an_http_date_of_now() {
        let text = super::with_now(|v| v.to_str().map(str::to_owned)).expect("ASCII");
        let then = httpdate::parse_http_date(&text).expect("an HTTP date");
        let off = std::time::SystemTime::now()
            .duration_since(then)
            .expect("not in the future");
        assert!(off.as_secs() <= 1, "{text} is {off:?} old");
    }
}
