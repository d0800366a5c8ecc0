//! Backbones side by side on the same photos: each backbone's test reports over repeated splits
//! (the same splits for every backbone), summed into one row per backbone, and the table as CSV
//! and Markdown for export. The page runs the splits (see the UI's compare view); this is what
//! it keeps and prints.

use crate::backbone::BackboneId;
use crate::metrics::ConfusionMatrix;
use crate::model::TrainedModel;

/// One backbone's results over the repeats.
#[derive(Clone, Debug, PartialEq)]
pub struct BackboneRow {
    pub backbone: BackboneId,
    /// Test accuracy of each repeat.
    pub accuracies: Vec<f64>,
    /// Summed over the repeats.
    pub confusion: ConfusionMatrix,
    /// The calibrated unknown threshold (cosine similarity) of each repeat that had one.
    pub thresholds: Vec<f32>,
    /// Measured on this device, where known.
    pub ms_per_photo: Option<f64>,
    pub download_bytes: Option<f64>,
}

impl BackboneRow {
    pub fn new(backbone: BackboneId, classes: usize) -> Self {
        Self {
            backbone,
            accuracies: Vec::new(),
            confusion: ConfusionMatrix::new(classes, &[], &[]),
            thresholds: Vec::new(),
            ms_per_photo: None,
            download_bytes: None,
        }
    }

    /// Adds one repeat's trained model (with its test report).
    pub fn add(&mut self, model: &TrainedModel) {
        if let Some(report) = &model.report {
            self.accuracies.push(report.confusion.accuracy());
            self.confusion.add(&report.confusion);
        }
        self.thresholds.extend(model.unknown.as_ref().map(|u| u.similarity));
    }

    /// Mean and sample standard deviation of the test accuracy (0 for one repeat).
    pub fn accuracy(&self) -> (f64, f64) {
        mean_and_sd(&self.accuracies)
    }

    pub fn threshold(&self) -> Option<f64> {
        let values: Vec<f64> = self.thresholds.iter().map(|&t| t as f64).collect();
        (!values.is_empty()).then(|| mean_and_sd(&values).0)
    }
}

fn mean_and_sd(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = if values.len() > 1 { (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
    (mean, sd)
}

/// The comparison: the people (the confusion matrices' order), the split and each row.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub names: Vec<String>,
    pub test_fraction: f64,
    pub repeats: usize,
    pub rows: Vec<BackboneRow>,
}

fn optional(value: Option<f64>, digits: usize) -> String {
    value.map_or(String::new(), |v| format!("{v:.digits$}"))
}

impl Comparison {
    /// One line per backbone: accuracy (mean, sd, min, max), threshold, speed, size, then each
    /// person's accuracy.
    pub fn to_csv(&self) -> String {
        let quote = crate::encoding::csv_quoted;
        let mut header = vec!["backbone", "test_accuracy_mean", "test_accuracy_sd", "test_accuracy_min", "test_accuracy_max", "repeats", "unknown_threshold", "ms_per_photo", "download_mb"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        header.extend(self.names.iter().map(|n| quote(&format!("accuracy {n}"))));
        let mut lines = vec![header.join(",")];
        for row in &self.rows {
            let (mean, sd) = row.accuracy();
            let (min, max) = row.accuracies.iter().fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            let mut fields = vec![
                row.backbone.spec().name.to_string(),
                format!("{mean:.4}"),
                format!("{sd:.4}"),
                optional((!row.accuracies.is_empty()).then_some(min), 4),
                optional((!row.accuracies.is_empty()).then_some(max), 4),
                row.accuracies.len().to_string(),
                optional(row.threshold(), 3),
                optional(row.ms_per_photo, 1),
                optional(row.download_bytes.map(|b| b / 1e6), 1),
            ];
            fields.extend(row.confusion.per_class_accuracy().into_iter().map(|a| optional(a, 4)));
            lines.push(fields.join(","));
        }
        lines.join("\n") + "\n"
    }

    /// The same table in Markdown, then each backbone's summed confusion matrix.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "Test accuracy over {} split(s) (test fraction {}), the same splits for every backbone.\n\n",
            self.repeats, self.test_fraction
        );
        out += "| backbone | test accuracy (mean ± sd) | unknown threshold | ms/photo | download |";
        out += &self.names.iter().map(|n| format!(" {} |", n.replace('|', "\\|"))).collect::<String>();
        out += "\n|---|---:|---:|---:|---:|";
        out += &"---:|".repeat(self.names.len());
        out += "\n";
        for row in &self.rows {
            let (mean, sd) = row.accuracy();
            out += &format!(
                "| {} | {mean:.3} ± {sd:.3} | {} | {} | {} |",
                row.backbone.spec().name,
                optional(row.threshold(), 3),
                optional(row.ms_per_photo, 0),
                row.download_bytes.map_or(String::new(), |b| format!("{:.1} MB", b / 1e6)),
            );
            out += &row.confusion.per_class_accuracy().into_iter().map(|a| format!(" {} |", optional(a, 3))).collect::<String>();
            out += "\n";
        }
        for row in &self.rows {
            out += &format!("\n{} (confusion matrix, summed):\n\n```\n{}```\n", row.backbone.spec().name, row.confusion.render(&self.names));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Report;

    fn model(truth: &[usize], predicted: &[usize], threshold: f32) -> TrainedModel {
        let names = vec!["Ada".to_string(), "Bob".to_string()];
        let confusion = ConfusionMatrix::new(2, truth, predicted);
        let unknown = Some(crate::openset::UnknownThreshold { similarity: threshold, genuine_accepted: 1.0, impostors_rejected: 1.0, held_out: 4, per_person: Vec::new() });
        TrainedModel { backbone: BackboneId::FaceRes, names: names.clone(), head: Vec::new(), unknown, report: Some(Report { names, confusion, train_photos: 8 }) }
    }

    #[test]
    fn rows_sum_the_repeats_and_export_as_csv_and_markdown() {
        let mut row = BackboneRow::new(BackboneId::ResNet50ImageNet, 2);
        row.add(&model(&[0, 0, 1, 1], &[0, 0, 1, 1], 0.6));
        row.add(&model(&[0, 0, 1, 1], &[0, 1, 1, 1], 0.8));
        row.ms_per_photo = Some(250.0);
        let (mean, sd) = row.accuracy();
        assert!((mean - 0.875).abs() < 1e-9 && (sd - 0.1767767).abs() < 1e-6, "{mean} {sd}");
        assert!((row.threshold().unwrap() - 0.7).abs() < 1e-6);
        assert_eq!(row.confusion.per_class_accuracy(), vec![Some(0.75), Some(1.0)]);
        let comparison = Comparison { names: vec!["Ada".into(), "Bob \"B\"".into()], test_fraction: 0.2, repeats: 2, rows: vec![row] };
        let csv = comparison.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "backbone,test_accuracy_mean,test_accuracy_sd,test_accuracy_min,test_accuracy_max,repeats,unknown_threshold,ms_per_photo,download_mb,\"accuracy Ada\",\"accuracy Bob \"\"B\"\"\"");
        assert_eq!(lines[1], "resnet50-imagenet,0.8750,0.1768,0.7500,1.0000,2,0.700,250.0,,0.7500,1.0000");
        let markdown = comparison.to_markdown();
        assert!(markdown.contains("| resnet50-imagenet | 0.875 ± 0.177 | 0.700 | 250 |  | 0.750 | 1.000 |"), "{markdown}");
        assert!(markdown.contains("resnet50-imagenet (confusion matrix, summed)"));
    }
}
