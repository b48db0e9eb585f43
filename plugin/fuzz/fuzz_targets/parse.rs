//! Fuzzes the `/maintenance` parser: it must never panic, and whatever it accepts must render
//! to text that parses back to the same command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lull_plugin::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for input in [text.to_owned(), format!("/maintenance {text}")] {
        if let Ok(command) = parse(&input, Some("lull_bot")) {
            let rendered = command.to_string();
            assert_eq!(parse(&rendered, Some("lull_bot")), Ok(command), "{rendered:?}");
        }
    }
});
