//! One CSV record, as Go's `encoding/csv` reads the value of `--mount`: commas separate fields,
//! a field may be double-quoted (so it can contain commas), and `""` inside quotes is a quote.

use super::ShorthandError;

/// Splits `value` into its fields.
pub(crate) fn split_record(value: &str) -> Result<Vec<String>, ShorthandError> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = value.chars().peekable();
    let mut at_field_start = true;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if at_field_start => {
                quoted = true;
                at_field_start = false;
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            _ => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
    if quoted {
        return Err(ShorthandError::new(format!(
            "invalid CSV {value:?}: extraneous or missing \" in quoted-field"
        )));
    }
    fields.push(field);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_plain_and_quoted_fields() {
        assert_eq!(split_record("a,b=c,,d").unwrap(), vec!["a", "b=c", "", "d"]);
        assert_eq!(
            split_record(r#"type=volume,"volume-opt=o=addr=1,nolock",dst=/x"#).unwrap(),
            vec!["type=volume", "volume-opt=o=addr=1,nolock", "dst=/x"]
        );
        assert_eq!(split_record(r#""a""b""#).unwrap(), vec![r#"a"b"#]);
        assert!(split_record(r#""open"#).is_err());
    }
}
