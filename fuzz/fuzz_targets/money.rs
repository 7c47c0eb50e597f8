//! Fuzzes money (`countersign::money`): `Amount`, `Percentage` and `Currency` parsed from
//! arbitrary strings, as params and policies carry them, and `Currency::format`, which
//! writes the summary a person confirms before a direct execution.
//!
//! Input: UTF-8 text (other input is skipped). The whole text is tried as an amount, a
//! percentage and a currency code, directly and as a JSON string through serde; text of
//! the form `CODE AMOUNT` also formats that amount in that currency.
//!
//! Why: a limit check compares these values and a confirmation shows them, so a parse must
//! mean exactly what the text says and never panic. Checked for every input:
//! - an amount is accepted exactly when the text matches `AMOUNT_PATTERN` (the pattern its
//!   schema states), and is never negative;
//! - a percentage, when accepted, is from 0 to 100 with at most 4 decimals;
//! - serde and `TryFrom<String>` agree, a JSON number is never an amount or percentage,
//!   and a parsed value serializes to a string that parses back to the same value (for an
//!   amount, a string matching the pattern again);
//! - a currency code is accepted only as three capital letters and writes back as itself;
//! - `format` never panics for any amount and any currency (every exponent, 0 to 4, and
//!   codes with none), shows the code, the amount rounded to the currency's digits, those
//!   digits exactly, and commas every three digits.

#![no_main]

use std::str::FromStr;
use std::sync::OnceLock;

use countersign::money::{AMOUNT_PATTERN, Amount, Currency, Percentage};
use libfuzzer_sys::fuzz_target;
use regex::Regex;
use rust_decimal::Decimal;
use serde_json::Value;

/// Currencies with each exponent iso_currency knows: 0, 2, 3, 4, and none (XAU: 2 is used).
const CODES: [&str; 6] = ["JPY", "USD", "KWD", "CLF", "XAU", "EUR"];

fn amount_pattern() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| Regex::new(AMOUNT_PATTERN).expect("AMOUNT_PATTERN compiles"))
}

fn currencies() -> &'static Vec<Currency> {
    static CURRENCIES: OnceLock<Vec<Currency>> = OnceLock::new();
    CURRENCIES.get_or_init(|| CODES.iter().map(|c| Currency::try_from(c.to_string()).expect("a known code")).collect())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let as_json = Value::String(text.to_owned());

    let amount = Amount::try_from(text.to_owned());
    assert_eq!(amount.is_ok(), amount_pattern().is_match(text), "Amount accepts {text:?} exactly when it matches");
    assert_eq!(serde_json::from_value::<Amount>(as_json.clone()).ok(), amount.clone().ok(), "serde agrees");
    if let Ok(amount) = amount {
        assert!(!amount.0.is_sign_negative(), "{text:?} is not negative");
        let written = String::from(amount);
        assert!(amount_pattern().is_match(&written), "{text:?} writes back as {written:?}, not an amount");
        assert_eq!(Amount::try_from(written.clone()), Ok(amount), "{text:?} -> {written:?} round-trips");
        let json = serde_json::to_string(&amount).expect("an amount serializes");
        assert_eq!(serde_json::from_str::<Amount>(&json).ok(), Some(amount), "{json} round-trips");
        for currency in currencies() {
            check_format(*currency, amount);
        }
    }

    let percentage = Percentage::try_from(text.to_owned());
    assert_eq!(serde_json::from_value::<Percentage>(as_json.clone()).ok(), percentage.clone().ok(), "serde agrees");
    if let Ok(percentage) = percentage {
        let value = percentage.0;
        assert!(!value.is_sign_negative() && value <= 100.into() && value.scale() <= 4, "{text:?} -> {value}");
        let written = String::from(percentage);
        assert_eq!(Percentage::try_from(written.clone()), Ok(percentage), "{text:?} -> {written:?} round-trips");
    }

    let currency = Currency::try_from(text.to_owned());
    assert_eq!(serde_json::from_value::<Currency>(as_json).ok(), currency.clone().ok(), "serde agrees");
    if let Ok(currency) = currency {
        assert!(text.len() == 3 && text.bytes().all(|b| b.is_ascii_uppercase()), "{text:?} is a currency code");
        assert_eq!(String::from(currency), text);
    }

    if let Some((code, amount)) = text.split_once(' ')
        && let (Ok(currency), Ok(amount)) = (Currency::try_from(code.to_owned()), Amount::try_from(amount.to_owned()))
    {
        check_format(currency, amount);
    }

    // A JSON number is never money.
    if let Ok(number @ Value::Number(_)) = serde_json::from_str::<Value>(text) {
        assert!(serde_json::from_value::<Amount>(number.clone()).is_err(), "{text} is a number");
        assert!(serde_json::from_value::<Percentage>(number).is_err(), "{text} is a number");
    }
});

/// `CODE 1,234,567.89`: the amount rounded to the currency's digits, all of them shown.
fn check_format(currency: Currency, amount: Amount) {
    let shown = currency.format(amount);
    let code = currency.code();
    let number = shown.strip_prefix(code).and_then(|s| s.strip_prefix(' '));
    let number = number.unwrap_or_else(|| panic!("{shown:?} starts with {code}"));
    let (whole, part) = match number.split_once('.') {
        Some((whole, part)) => (whole, Some(part)),
        None => (number, None),
    };
    let exponent = currency.exponent() as usize;
    assert_eq!(part.map_or(0, str::len), exponent, "{shown:?} shows {exponent} digits after the point");
    assert!(part.is_none_or(|p| p.bytes().all(|b| b.is_ascii_digit())), "{shown:?}");
    let groups: Vec<&str> = whole.split(',').collect();
    assert!((1..=3).contains(&groups[0].len()), "{shown:?}: the first group has 1 to 3 digits");
    assert!(groups[1..].iter().all(|g| g.len() == 3), "{shown:?}: then groups of three");
    assert!(groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit())), "{shown:?}: digits only");
    assert!(groups[0] != "0" || groups.len() == 1, "{shown:?}: no leading zero group");
    assert!(groups.len() == 1 || !groups[0].starts_with('0'), "{shown:?}: no leading zero");
    let plain: String = number.chars().filter(|&c| c != ',').collect();
    let value = Decimal::from_str(&plain).unwrap_or_else(|e| panic!("{shown:?} shows no number: {e}"));
    assert_eq!(value, amount.0.round_dp(exponent as u32), "{shown:?} shows {amount} rounded to {exponent} digits");
}
