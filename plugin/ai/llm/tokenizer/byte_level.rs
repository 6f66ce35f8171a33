//! GPT-2's byte-level alphabet: every byte gets a printable character, so a vocabulary of
//! strings can hold any byte sequence. Printable Latin-1 bytes (`!`..`~`, `¡`..`¬`, `®`..`ÿ`)
//! stand for themselves; the other 68 bytes (controls, space, `\xad`...) take the characters from
//! U+0100 upwards in byte order, so a space is `Ġ` (U+0120) and a newline `Ċ` (U+010A).

/// The character that stands for each byte.
pub(crate) const fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut extra = 0u32;
    let mut b = 0usize;
    while b < 256 {
        let printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
        let code = if printable {
            b as u32
        } else {
            extra += 1;
            255 + extra
        };
        table[b] = match char::from_u32(code) {
            Some(c) => c,
            None => '\0',
        };
        b += 1;
    }
    table
}

/// Byte for each character of the alphabet, as a lookup over `U+0000..U+0144`.
const CHAR_TO_BYTE: [i16; 0x144] = {
    let table = byte_to_char_table();
    let mut inverse = [-1i16; 0x144];
    let mut b = 0usize;
    while b < 256 {
        inverse[table[b] as usize] = b as i16;
        b += 1;
    }
    inverse
};

/// The byte a character of the alphabet stands for, or `None` for a character outside it.
pub(crate) fn char_to_byte(c: char) -> Option<u8> {
    CHAR_TO_BYTE
        .get(c as usize)
        .and_then(|&b| u8::try_from(b).ok())
}

/// The bytes a vocabulary string stands for. Characters outside the alphabet (added tokens
/// written as plain text) stand for their own UTF-8 bytes.
pub(crate) fn decode_piece(text: &str, out: &mut Vec<u8>) {
    for c in text.chars() {
        match char_to_byte(c) {
            Some(b) => out.push(b),
            None => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

/// The vocabulary string for `bytes`.
#[cfg(test)]
pub(crate) fn encode_bytes(bytes: &[u8]) -> String {
    const TABLE: [char; 256] = byte_to_char_table();
    bytes.iter().map(|&b| TABLE[b as usize]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_matches_gpt2() {
        let table = byte_to_char_table();
        assert_eq!(table[b' ' as usize], 'Ġ');
        assert_eq!(table[b'\n' as usize], 'Ċ');
        assert_eq!(table[b'\t' as usize], 'ĉ');
        assert_eq!(table[b'a' as usize], 'a');
        assert_eq!(table[0xad], 'Ń'); // the 68th and last remapped byte: U+0143
        assert_eq!(table[0xff], 'ÿ');
        let mut seen = std::collections::HashSet::new();
        for (b, &c) in table.iter().enumerate() {
            assert!(seen.insert(c), "byte {b} shares its character");
            assert_eq!(char_to_byte(c), Some(b as u8));
        }
        assert_eq!(char_to_byte('€'), None);
    }

    #[test]
    fn pieces_round_trip() {
        let bytes = "héllo 世界\n\u{1F600}".as_bytes();
        let piece = encode_bytes(bytes);
        let mut back = Vec::new();
        decode_piece(&piece, &mut back);
        assert_eq!(back, bytes);
    }
}
