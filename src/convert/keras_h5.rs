//! Keras HDF5 weight files, for keras-vggface's ResNet50 (`rcmalli_vggface_tf_notop_resnet50.h5`),
//! which the user brings: reading, checking against the real file's layout, converting.

use std::path::Path;

use super::resnet::{self, KerasVggFaceNaming, ResNetNaming, Role};
use super::{ConvertError, SourceTensor, SourceTensors};
use crate::backbone::BackboneId;
use crate::weights::NamedTensor;

/// Source tensors as keras-vggface's `rcmalli_vggface_tf_notop_resnet50.h5` holds them: every
/// layer name and shape (from the architecture). The real file's values replace these when it is
/// read; the shapes are also what a real file is checked against.
pub fn vggface2_resnet50_layout() -> Vec<(String, Vec<usize>)> {
    let naming = KerasVggFaceNaming;
    let mut layout = Vec::new();
    let mut push_conv_bn = |(conv, bn): (String, String), k: usize, cin: usize, cout: usize| {
        layout.push((format!("{conv}/kernel"), vec![k, k, cin, cout]));
        for w in ["gamma", "beta", "moving_mean", "moving_variance"] {
            layout.push((format!("{bn}/{w}"), vec![cout]));
        }
    };
    push_conv_bn(naming.stem(), 7, 3, 64);
    let mut channels = 64;
    for (stage, (depth, width)) in [(3, 64), (4, 128), (6, 256), (3, 512)].into_iter().enumerate() {
        for block in 0..depth {
            for &role in resnet::roles(block) {
                let (k, cin, cout) = match role {
                    Role::Reduce => (1, channels, width),
                    Role::Spatial => (3, width, width),
                    Role::Expand => (1, width, width * 4),
                    Role::Projection => (1, channels, width * 4),
                };
                push_conv_bn(naming.block(stage, block, role), k, cin, cout);
            }
            channels = width * 4;
        }
    }
    layout
}

/// Reads every dataset of a Keras HDF5 weights file. Keras stores layer `L`'s weight `w` at
/// `L/L/w:0` (or under `model_weights/` for a whole-model save); the key is `L/w`.
pub fn read_keras_h5(path: &Path) -> Result<SourceTensors, ConvertError> {
    let file = hdf5::File::open(path).map_err(|source| ConvertError::NotHdf5 { path: path.to_path_buf(), source })?;
    let root = if file.link_exists("model_weights") { "model_weights" } else { "/" };
    let group = file.group(root).map_err(|source| ConvertError::Hdf5 { at: root.to_string(), source })?;
    let mut tensors = SourceTensors::new();
    collect_datasets(&group, "", &mut tensors)?;
    Ok(tensors)
}

fn collect_datasets(group: &hdf5::Group, prefix: &str, out: &mut SourceTensors) -> Result<(), ConvertError> {
    let names = group.member_names().map_err(|source| ConvertError::Hdf5 { at: group.name(), source })?;
    for name in names {
        let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        if let Ok(child) = group.group(&name) {
            collect_datasets(&child, &path, out)?;
        } else if let Ok(dataset) = group.dataset(&name) {
            let values: Vec<f32> = dataset.read_raw().map_err(|source| ConvertError::Hdf5 { at: path.clone(), source })?;
            out.insert(keras_weight_key(&path), SourceTensor { shape: dataset.shape(), values });
        }
    }
    Ok(())
}

/// `L/L/w:0` -> `L/w` (L may itself contain slashes).
fn keras_weight_key(path: &str) -> String {
    let path = path.strip_suffix(":0").unwrap_or(path);
    let parts: Vec<&str> = path.split('/').collect();
    let layer_parts = parts.len() - 1;
    if layer_parts.is_multiple_of(2) && parts[..layer_parts / 2] == parts[layer_parts / 2..layer_parts] {
        format!("{}/{}", parts[..layer_parts / 2].join("/"), parts[layer_parts])
    } else {
        parts[parts.len().saturating_sub(2)..].join("/")
    }
}

/// Reads, checks and converts the user's copy of `rcmalli_vggface_tf_notop_resnet50.h5`.
pub fn convert_vggface2_h5(path: &Path) -> Result<Vec<NamedTensor>, ConvertError> {
    let tensors = read_keras_h5(path)?;
    check_vggface2_layout(&tensors)?;
    super::convert(BackboneId::VggFace2ResNet50, &tensors, None)
}

/// Checks a keras-vggface ResNet50 file against the real file's layout: every layer name and
/// shape must be there (extra tensors, such as a classifier, are ignored).
pub fn check_vggface2_layout(tensors: &SourceTensors) -> Result<(), ConvertError> {
    let problems: Vec<String> = vggface2_resnet50_layout()
        .into_iter()
        .filter_map(|(name, shape)| match tensors.get(&name) {
            None => Some(format!("missing {name}")),
            Some(t) if t.shape != shape => Some(format!("{name} has shape {:?}, expected {shape:?}", t.shape)),
            Some(_) => None,
        })
        .collect();
    if problems.is_empty() { Ok(()) } else { Err(ConvertError::NotVggFace2Layout { problems }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_keys_drop_the_repeated_layer_group() {
        assert_eq!(keras_weight_key("conv1/7x7_s2/conv1/7x7_s2/kernel:0"), "conv1/7x7_s2/kernel");
        assert_eq!(keras_weight_key("conv1/7x7_s2/bn/conv1/7x7_s2/bn/gamma:0"), "conv1/7x7_s2/bn/gamma");
        assert_eq!(keras_weight_key("conv2_1_3x3/conv2_1_3x3/kernel:0"), "conv2_1_3x3/kernel");
    }
}
