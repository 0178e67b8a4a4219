//! Header maps kept for reuse. Each HTTP/1.1 request and response head is read into a
//! `HeaderMap`, which is two allocations, and dropped once encoded again, which is two frees:
//! about 200 instructions a map. A map that has been encoded goes back here, emptied, and the
//! next head is read into it. Only maps that held few fields are kept, and only a few on each
//! thread: the spares hold about 40 KiB at most.

use std::cell::RefCell;

use http::HeaderMap;

/// The most spare maps a thread keeps.
const KEEP: usize = 16;
/// The largest map kept, in fields it holds without growing.
const LARGEST: usize = 24;

thread_local! {
    static SPARE: RefCell<Vec<HeaderMap>> = const { RefCell::new(Vec::new()) };
}

/// An empty map with room for `capacity` fields: a spare one when there is one large enough.
pub(crate) fn take(capacity: usize) -> HeaderMap {
    let spare = SPARE.with_borrow_mut(Vec::pop);
    match spare {
        Some(map) if map.capacity() >= capacity => map,
        _ => HeaderMap::with_capacity(capacity),
    }
}

/// Keeps `map` for a later head, emptied, unless it is large or enough are kept. A map that
/// held more values than [`LARGEST`] (many lines of one name grow a list that `capacity` does
/// not count) is not kept either.
pub(crate) fn give(mut map: HeaderMap) {
    if map.capacity() == 0 || map.capacity() > LARGEST || map.len() > LARGEST {
        return;
    }
    map.clear();
    SPARE.with_borrow_mut(|spare| {
        if spare.len() < KEEP {
            spare.push(map);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn a_given_map_comes_back_empty_and_large_ones_are_not_kept() {
        let mut map = take(4);
        map.insert("a", HeaderValue::from_static("1"));
        map.append("a", HeaderValue::from_static("2"));
        let room = map.capacity();
        give(map);
        let again = take(2);
        assert!(again.is_empty() && again.get("a").is_none());
        assert_eq!(again.capacity(), room, "the spare was reused");
        // One too small for what is asked is not handed out.
        give(again);
        assert!(take(room + 1).capacity() > room);
        let big = HeaderMap::with_capacity(LARGEST * 2);
        give(big);
        assert!(take(1).capacity() <= LARGEST);
        // Many lines of one name: few slots, a long list.
        let mut long = take(1);
        for _ in 0..=LARGEST {
            long.append("set-cookie", HeaderValue::from_static("a=1"));
        }
        assert!(long.capacity() <= LARGEST);
        let kept = SPARE.with_borrow(Vec::len);
        give(long);
        assert_eq!(SPARE.with_borrow(Vec::len), kept, "a long map was kept");
        give(take(1));
        assert_eq!(SPARE.with_borrow(Vec::len), kept + 1);
    }
}
