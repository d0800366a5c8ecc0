//! Keras HDF5 weight files, for keras-vggface's ResNet50 (`rcmalli_vggface_tf_notop_resnet50.h5`),
//! which the user brings: reading (hdf5-pure, from bytes: natively and in the page alike),
//! checking against the real file's layout, converting.

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
pub fn read_keras_h5(bytes: &[u8]) -> Result<SourceTensors, ConvertError> {
    if !hdf5_pure::is_hdf5_bytes(bytes) {
        return Err(ConvertError::NotHdf5("no HDF5 signature".to_string()));
    }
    let file = hdf5_pure::File::from_bytes(bytes.to_vec()).map_err(|e| ConvertError::NotHdf5(e.to_string()))?;
    let root = file.group("model_weights").unwrap_or_else(|_| file.root());
    let mut tensors = SourceTensors::new();
    collect_datasets(&root, "", 0, &mut tensors)?;
    Ok(tensors)
}

/// Keras nests weights three groups deep (four in a whole-model save); a damaged file can link a
/// group into itself, which would recurse without end.
const MAX_GROUP_DEPTH: usize = 16;

fn collect_datasets(group: &hdf5_pure::Group, prefix: &str, depth: usize, out: &mut SourceTensors) -> Result<(), ConvertError> {
    if depth > MAX_GROUP_DEPTH {
        return Err(ConvertError::Hdf5 { at: prefix.to_string(), why: format!("groups nested more than {MAX_GROUP_DEPTH} deep") });
    }
    let at = |name: &str| if prefix.is_empty() { name.to_string() } else { format!("{prefix}/{name}") };
    fn hdf5(path: &str) -> impl FnOnce(hdf5_pure::Error) -> ConvertError + '_ {
        move |e| ConvertError::Hdf5 { at: path.to_string(), why: e.to_string() }
    }
    for name in group.groups().map_err(hdf5(prefix))? {
        let path = at(&name);
        collect_datasets(&group.group(&name).map_err(hdf5(&path))?, &path, depth + 1, out)?;
    }
    for name in group.datasets().map_err(hdf5(prefix))? {
        let path = at(&name);
        let dataset = group.dataset(&name).map_err(hdf5(&path))?;
        let shape = dataset.shape().map_err(hdf5(&path))?.into_iter().map(|d| d as usize).collect();
        let values = dataset.read_f32().map_err(hdf5(&path))?;
        out.insert(keras_weight_key(&path), SourceTensor { shape, values });
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
pub fn convert_vggface2_h5(bytes: &[u8]) -> Result<Vec<NamedTensor>, ConvertError> {
    let tensors = read_keras_h5(bytes)?;
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

/// A file shaped like keras-vggface's ResNet50 weights (every layer name and shape) with random
/// values of a plausible trained network, minus the layer `skip`: the real file is in no
/// registry, so the tests and the page's end-to-end test convert this one instead.
pub fn synthetic_vggface2_h5(seed: u64, skip: Option<&str>) -> Vec<u8> {
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// Groups by name, and datasets (name, shape, values) at each level.
    #[derive(Default)]
    struct Tree {
        groups: std::collections::BTreeMap<String, Tree>,
        datasets: Vec<(String, Vec<usize>, Vec<f32>)>,
    }
    fn fill(tree: Tree, group: &mut hdf5_pure::GroupBuilder) {
        for (name, shape, values) in &tree.datasets {
            let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
            group.create_dataset(name).with_f32_data(values).with_shape(&shape);
        }
        for (name, subtree) in tree.groups {
            let mut subgroup = group.create_group(&name);
            fill(subtree, &mut subgroup);
            group.add_group(subgroup.finish());
        }
    }

    let mut rng = SmallRng::seed_from_u64(seed);
    let mut root = Tree::default();
    for (name, shape) in vggface2_resnet50_layout() {
        if skip == Some(name.as_str()) {
            continue;
        }
        let (layer, weight) = name.rsplit_once('/').expect("layer/weight");
        let count: usize = shape.iter().product();
        let values: Vec<f32> = match weight {
            // He-style kernels and BatchNorm statistics of a plausible trained network.
            "kernel" => {
                let fan_in = (shape[0] * shape[1] * shape[2]) as f32;
                (0..count).map(|_| rng.random_range(-1.0..1.0) * (3.0 / fan_in).sqrt()).collect()
            }
            "gamma" => (0..count).map(|_| rng.random_range(0.5..1.0)).collect(),
            "beta" => (0..count).map(|_| rng.random_range(-0.1..0.1)).collect(),
            "moving_mean" => (0..count).map(|_| rng.random_range(-0.2..0.2)).collect(),
            _ => (0..count).map(|_| rng.random_range(0.5..2.0)).collect(),
        };
        let mut node = &mut root;
        for part in format!("{layer}/{layer}").split('/') {
            node = node.groups.entry(part.to_string()).or_default();
        }
        node.datasets.push((format!("{weight}:0"), shape, values));
    }
    // Keras puts only groups at the root.
    let mut builder = hdf5_pure::FileBuilder::new();
    for (name, tree) in root.groups {
        let mut group = builder.create_group(&name);
        fill(tree, &mut group);
        builder.add_group(group.finish());
    }
    builder.finish().expect("an in-memory HDF5 file")
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
