//! The two exposition formats and the choice between them from a scrape's
//! `Accept` header.

/// The exposition formats [`encode`](super::encode) writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Format {
    /// OpenMetrics 1.0 text, ending in `# EOF`; what Prometheus asks for
    /// first.
    #[default]
    OpenMetrics,
    /// The classic Prometheus text format, version 0.0.4 (what `promtool
    /// check metrics` reads).
    PrometheusText,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// The format to answer a scrape whose `Accept` header is `accept`:
    /// OpenMetrics when it is accepted (media types compared without regard
    /// to case, a `q=0` range refused) at least as much as `text/plain`,
    /// else the classic text format, also with no or an unreadable header.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let (mut open, mut text) = (0.0_f32, 0.0_f32);
        for range in accept.unwrap_or_default().split(',') {
            let mut params = range.split(';');
            let media = params.next().unwrap_or_default().trim();
            let q = params
                .filter_map(|p| p.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
                .map_or(Some(1.0), |(_, v)| v.trim().parse::<f32>().ok())
                .filter(|q| (0.0..=1.0).contains(q))
                .unwrap_or(0.0);
            if media.eq_ignore_ascii_case("application/openmetrics-text") {
                open = open.max(q);
            } else if ["text/plain", "text/*", "*/*"]
                .iter()
                .any(|m| media.eq_ignore_ascii_case(m))
            {
                text = text.max(q);
            }
        }
        if open > 0.0 && open >= text {
            Self::OpenMetrics
        } else {
            Self::PrometheusText
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scraper_chooses_the_format() {
        let prometheus =
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(
            Format::negotiate(Some("text/plain")),
            Format::PrometheusText
        );
        assert_eq!(Format::negotiate(None), Format::PrometheusText);
    }

    #[test]
    fn negotiation_reads_q_values_and_ignores_case() {
        let cases = [
            (
                "Application/OpenMetrics-Text; version=1.0.0",
                Format::OpenMetrics,
            ),
            (
                "application/openmetrics-text;q=0, text/plain",
                Format::PrometheusText,
            ),
            (
                "application/openmetrics-text;q=0.2,text/plain;q=0.9",
                Format::PrometheusText,
            ),
            (
                "text/plain;q=0.5, application/openmetrics-text",
                Format::OpenMetrics,
            ),
            (
                "application/openmetrics-text;q=oops, */*",
                Format::PrometheusText,
            ),
            ("application/openmetrics-textual", Format::PrometheusText),
            ("", Format::PrometheusText),
            (",;=;,", Format::PrometheusText),
        ];
        for (accept, want) in cases {
            assert_eq!(Format::negotiate(Some(accept)), want, "{accept}");
        }
    }
}
