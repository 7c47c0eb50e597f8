//! Money and shares as they travel: decimal strings in and out (`"1999.99"`), never a
//! float (docs/protocol.md §7.2). [`Amount`] and [`Percentage`] hold a `rust_decimal`;
//! [`Currency`] an ISO 4217 code known to the `iso_currency` tables. Each refuses a JSON
//! number at the params schema (`type: string`), so a float never gets in.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// What an amount looks like: up to 15 digits, optionally a point and up to 6 more.
pub const AMOUNT_PATTERN: &str = r"^[0-9]{1,15}(\.[0-9]{1,6})?$";
/// What a percentage looks like: 0 to 100, up to 4 decimals.
pub const PERCENTAGE_PATTERN: &str = r"^(100(\.0{1,4})?|[0-9]{1,2}(\.[0-9]{1,4})?)$";

/// A non-negative sum of money, as a decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Amount(pub Decimal);

/// A share from 0 to 100, as a decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Percentage(pub Decimal);

/// An ISO 4217 currency code (`USD`, `EUR`, `JPY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(iso_currency::Currency);

impl TryFrom<String> for Amount {
    type Error = String;

    fn try_from(text: String) -> Result<Amount, String> {
        let digits = |s: &str, max: usize| (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
        let well_formed = match text.split_once('.') {
            Some((whole, part)) => digits(whole, 15) && digits(part, 6),
            None => digits(&text, 15),
        };
        match Decimal::from_str(&text) {
            Ok(value) if well_formed => Ok(Amount(value)),
            _ => Err(format!("`{text}` is not an amount such as \"1999.99\"")),
        }
    }
}

impl TryFrom<String> for Percentage {
    type Error = String;

    fn try_from(text: String) -> Result<Percentage, String> {
        let parsed = Decimal::from_str(&text).ok().filter(|d| {
            !d.is_sign_negative() && *d <= Decimal::ONE_HUNDRED && d.scale() <= 4 && !text.contains(['e', 'E', '+'])
        });
        parsed.map(Percentage).ok_or_else(|| format!("`{text}` is not a percentage from \"0\" to \"100\""))
    }
}

impl TryFrom<String> for Currency {
    type Error = String;

    fn try_from(code: String) -> Result<Currency, String> {
        iso_currency::Currency::from_code(&code)
            .map(Currency)
            .ok_or_else(|| format!("`{code}` is not an ISO 4217 code"))
    }
}

impl From<Amount> for String {
    fn from(amount: Amount) -> String {
        amount.0.to_string()
    }
}

impl From<Percentage> for String {
    fn from(percentage: Percentage) -> String {
        percentage.0.to_string()
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> String {
        currency.code().to_owned()
    }
}

impl Currency {
    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// Digits after the point in this currency (2 for USD, 0 for JPY, 3 for KWD).
    pub fn exponent(self) -> u32 {
        self.0.exponent().map_or(2, u32::from)
    }

    /// `amount` as people read it: `USD 12,000.00`.
    pub fn format(self, amount: Amount) -> String {
        let exponent = self.exponent();
        let rounded = amount.0.round_dp(exponent);
        let text = format!("{rounded:.prec$}", prec = exponent as usize);
        let (whole, part) = text.split_once('.').map_or((text.as_str(), None), |(w, p)| (w, Some(p)));
        let mut grouped = String::new();
        for (i, digit) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        match part {
            Some(part) => format!("{} {grouped}.{part}", self.code()),
            None => format!("{} {grouped}", self.code()),
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

fn string_schema(name: &'static str, description: &str, pattern: &str) -> Schema {
    json_schema!({ "title": name, "description": description, "type": "string", "pattern": pattern })
}

impl JsonSchema for Amount {
    fn schema_name() -> Cow<'static, str> {
        "Amount".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        string_schema(
            "Amount",
            "A non-negative decimal string such as \"1999.99\"; never a JSON number.",
            AMOUNT_PATTERN,
        )
    }
}

impl JsonSchema for Percentage {
    fn schema_name() -> Cow<'static, str> {
        "Percentage".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        string_schema("Percentage", "A decimal string from \"0\" to \"100\"; never a JSON number.", PERCENTAGE_PATTERN)
    }
}

impl JsonSchema for Currency {
    fn schema_name() -> Cow<'static, str> {
        "Currency".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        string_schema("Currency", "An ISO 4217 currency code such as \"USD\".", "^[A-Z]{3}$")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(text: &str) -> Result<Amount, String> {
        Amount::try_from(text.to_owned())
    }

    #[test]
    fn amounts_are_plain_non_negative_decimals() {
        assert_eq!(amount("1999.99").unwrap().0, Decimal::new(199_999, 2));
        assert_eq!(amount("0").unwrap().0, Decimal::ZERO);
        for bad in ["", "-1", "1e3", "1.", ".5", "1.1234567", "1234567890123456", "+1", " 1", "1,5", "NaN"] {
            assert!(amount(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn percentages_run_from_zero_to_one_hundred() {
        assert!(Percentage::try_from("12.5".to_owned()).is_ok());
        assert!(Percentage::try_from("100".to_owned()).is_ok());
        for bad in ["100.01", "-1", "1e1", "12.34567"] {
            assert!(Percentage::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn currencies_are_iso_codes_and_format_with_their_minor_units() {
        let usd = Currency::try_from("USD".to_owned()).unwrap();
        assert_eq!(usd.format(amount("12000").unwrap()), "USD 12,000.00");
        assert_eq!(usd.format(amount("1234567.5").unwrap()), "USD 1,234,567.50");
        assert_eq!(usd.format(amount("999").unwrap()), "USD 999.00");
        let jpy = Currency::try_from("JPY".to_owned()).unwrap();
        assert_eq!((jpy.exponent(), jpy.format(amount("1500").unwrap())), (0, "JPY 1,500".to_owned()));
        assert!(Currency::try_from("XYZ".to_owned()).is_err());
        assert!(Currency::try_from("usd".to_owned()).is_err());
    }

    #[test]
    fn json_numbers_are_refused() {
        assert!(serde_json::from_str::<Amount>("12.5").is_err());
        assert_eq!(serde_json::to_string(&amount("12.50").unwrap()).unwrap(), "\"12.50\"");
    }
}
