//! A guard against deeply nested payloads. serde decodes nested maps and arrays by recursion, and
//! rmp-serde allows 1024 levels: enough to overflow a thread's stack (a crash, not an error) with a
//! few kilobytes of `[[[[…]]]]`. Protocol messages are shallow, so a payload nested deeper than
//! [`MAX_DEPTH`] is refused before serde sees it. The scan is iterative and reads only headers.

/// Deeper than any protocol message (ComfyUI's `node_errors` inside a failed job's `error`
/// inside a `job` reply is about eight levels).
pub const MAX_DEPTH: usize = 64;

/// Whether the first msgpack value in `bytes` nests maps and arrays at most `max` deep. Bytes that
/// end early or are not msgpack pass: the decoder refuses them with a better message.
pub(crate) fn within_depth(bytes: &[u8], max: usize) -> bool {
    // Items left to read in each open map or array.
    let mut open: Vec<u64> = Vec::new();
    let mut pos = 0usize;
    loop {
        let Some(header) = header(bytes, pos) else {
            return true;
        };
        pos = match pos.checked_add(header.len) {
            Some(next) if next <= bytes.len() => next,
            _ => return true,
        };
        if header.items > 0 {
            if open.len() >= max {
                return false;
            }
            open.push(header.items);
            continue;
        }
        // A whole value was read: close every container it completes.
        loop {
            match open.last_mut() {
                None => return true,
                Some(left) => {
                    *left -= 1;
                    if *left > 0 {
                        break;
                    }
                    open.pop();
                }
            }
        }
    }
}

struct Header {
    /// Bytes from the marker to the next value (marker, length and payload of a scalar).
    len: usize,
    /// Values inside (a map's keys and values both count), for a container.
    items: u64,
}

/// The header of the value at `pos`, or None when the bytes end or the marker is unused.
fn header(bytes: &[u8], pos: usize) -> Option<Header> {
    let marker = *bytes.get(pos)?;
    // A big-endian length of `n` bytes after the marker.
    let length = |n: usize| -> Option<u64> {
        let field = bytes.get(pos + 1..pos + 1 + n)?;
        Some(field.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    };
    let scalar = |len: usize| Some(Header { len, items: 0 });
    let payload = |n: usize, extra: usize| -> Option<Header> {
        let len = usize::try_from(length(n)?).ok()?;
        scalar((1 + n + extra).checked_add(len)?)
    };
    let container = |n: usize, per_entry: u64| -> Option<Header> {
        Some(Header {
            len: 1 + n,
            items: length(n)?.checked_mul(per_entry)?,
        })
    };
    match marker {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => scalar(1),
        0x80..=0x8f => Some(Header {
            len: 1,
            items: u64::from(marker & 0x0f) * 2,
        }),
        0x90..=0x9f => Some(Header {
            len: 1,
            items: u64::from(marker & 0x0f),
        }),
        0xa0..=0xbf => scalar(1 + usize::from(marker & 0x1f)),
        0xc4 | 0xd9 => payload(1, 0),
        0xc5 | 0xda => payload(2, 0),
        0xc6 | 0xdb => payload(4, 0),
        0xc7 => payload(1, 1),
        0xc8 => payload(2, 1),
        0xc9 => payload(4, 1),
        0xca => scalar(5),
        0xcb => scalar(9),
        0xcc | 0xd0 => scalar(2),
        0xcd | 0xd1 => scalar(3),
        0xce | 0xd2 => scalar(5),
        0xcf | 0xd3 => scalar(9),
        0xd4 => scalar(3),
        0xd5 => scalar(4),
        0xd6 => scalar(6),
        0xd7 => scalar(10),
        0xd8 => scalar(18),
        0xdc => container(2, 1),
        0xdd => container(4, 1),
        0xde => container(2, 2),
        0xdf => container(4, 2),
        0xc1 => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> Vec<u8> {
        let mut bytes = vec![0x91; levels];
        bytes.push(0xc0);
        bytes
    }

    #[test]
    fn depth_is_counted_through_maps_arrays_and_scalars() {
        assert!(within_depth(&nested(3), 3));
        assert!(!within_depth(&nested(4), 3));
        // {"a": [1, "x"], "b": {"c": nil}}: two levels.
        let value = [
            0x82, 0xa1, b'a', 0x92, 0x01, 0xa1, b'x', 0xa1, b'b', 0x81, 0xa1, b'c', 0xc0,
        ];
        assert!(within_depth(&value, 2));
        assert!(!within_depth(&value, 1));
        // Siblings do not add up: [[], [[]]] is... [ [nil], [nil] ] two levels.
        assert!(within_depth(&[0x92, 0x91, 0xc0, 0x91, 0xc0], 2));
        assert!(within_depth(&[], 1) && within_depth(&[0xdd, 0xff], 1) && within_depth(&[0xc6, 0xff], 1));
    }
}
