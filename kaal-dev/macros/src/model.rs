//! The driver as declared: the struct and its attributes, checked and read into a
//! [`DriverDef`].

use heck::ToSnakeCase;
use quote::quote;
use syn::ext::IdentExt;
use syn::{Attribute, Data, DeriveInput, Error, Field, Fields, FieldsNamed, Ident, LitStr, Result, Type};

use crate::attrs::{self, DeviceMatch, Resource, Resources, FIELD_ATTRS, STRUCT_ATTRS};
use crate::errors::Errors;

/// Bytes in each buffer of a DMA ring (`kaal_dev::kit::DMA_RING_BUFFER_BYTES`).
pub(crate) const DMA_RING_BUFFER_BYTES: u64 = 2048;

/// A driver, ready to be expanded.
pub(crate) struct DriverDef {
    pub(crate) ident: Ident,
    pub(crate) name: LitStr,
    pub(crate) matches: Vec<DeviceMatch>,
    pub(crate) dma_bytes: u64,
    pub(crate) fields: Vec<FieldDef>,
}

/// One field of the driver struct.
pub(crate) struct FieldDef {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
    /// The resource it takes and the attribute that says so; `None` for a plain field.
    pub(crate) resource: Option<(Resource, Attribute)>,
}

/// What the struct's own attributes say.
#[derive(Default)]
struct StructAttrs {
    name: Option<LitStr>,
    matches: Vec<DeviceMatch>,
    resources: Option<Resources>,
}

impl DriverDef {
    /// Reads and checks the derive input, reporting every error found.
    pub(crate) fn from_input(input: &DeriveInput) -> Result<Self> {
        let fields = named_fields(input)?;
        let mut errors = Errors::default();
        let attrs = struct_attrs(input, &mut errors);
        let fields: Vec<FieldDef> = fields.named.iter().map(|field| field_def(field, &mut errors)).collect();
        if !has_device_attr(input) {
            errors.push(Error::new_spanned(
                &input.ident,
                "a driver must say which devices it drives: add `#[isa(com2)]` or \
                 `#[pci(vendor = 0x8086, device = 0x100e)]` to the struct",
            ));
        }
        check_taken_once(&fields, &mut errors);
        check_dma(&fields, attrs.resources.as_ref(), &mut errors);
        errors.finish()?;
        Ok(DriverDef {
            ident: input.ident.clone(),
            name: attrs.name.unwrap_or_else(|| default_name(&input.ident)),
            matches: attrs.matches,
            dma_bytes: attrs.resources.map_or(0, |resources| resources.dma_bytes),
            fields,
        })
    }
}

/// The struct's named fields: only a struct with named fields and no generic
/// parameters can be a driver.
fn named_fields(input: &DeriveInput) -> Result<&FieldsNamed> {
    let mut errors = Errors::default();
    let ident = &input.ident;
    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(fields) => Some(fields),
            Fields::Unnamed(fields) => {
                let message =
                    "a driver's resources must be named fields: #[derive(Driver)] does not work on tuple structs";
                errors.push(Error::new_spanned(fields, message));
                None
            }
            Fields::Unit => {
                let message =
                    "a driver needs named fields for its resources: #[derive(Driver)] does not work on unit structs";
                errors.push(Error::new_spanned(ident, message));
                None
            }
        },
        Data::Enum(data) => {
            let enum_token = data.enum_token;
            errors.push(Error::new_spanned(
                quote!(#enum_token #ident),
                "#[derive(Driver)] works only on structs, not on enums",
            ));
            None
        }
        Data::Union(data) => {
            let union_token = data.union_token;
            errors.push(Error::new_spanned(
                quote!(#union_token #ident),
                "#[derive(Driver)] works only on structs, not on unions",
            ));
            None
        }
    };
    let generics = &input.generics;
    let message =
        "a driver cannot be generic: #[derive(Driver)] needs a struct without type, lifetime or const parameters";
    if !generics.params.is_empty() {
        errors.push(Error::new_spanned(generics, message));
    } else if let Some(where_clause) = &generics.where_clause {
        errors.push(Error::new_spanned(where_clause, message));
    }
    errors.finish()?;
    Ok(fields.expect("an error was reported if there are no named fields"))
}

/// Reads `#[driver]`, `#[isa]`, `#[pci]` and `#[resources]`.
fn struct_attrs(input: &DeriveInput, errors: &mut Errors) -> StructAttrs {
    let mut found = StructAttrs::default();
    for attr in &input.attrs {
        let Some(name) = attrs::name_of(attr) else { continue };
        match name.as_str() {
            "driver" if found.name.is_some() => errors.push(duplicate(attr, &name)),
            "driver" => found.name = errors.ok(attrs::parse_driver(attr)),
            "isa" => found.matches.extend(errors.ok(attrs::parse_isa(attr)).into_iter().flatten()),
            "pci" => found.matches.extend(errors.ok(attrs::parse_pci(attr))),
            "resources" if found.resources.is_some() => errors.push(duplicate(attr, &name)),
            "resources" => found.resources = errors.ok(attrs::parse_resources(attr)),
            _ if FIELD_ATTRS.contains(&name.as_str()) => {
                errors.push(Error::new_spanned(attr, format!("#[{name}] goes on a field, not on the struct")));
            }
            _ => {}
        }
    }
    found
}

/// Whether the struct has an `#[isa]` or `#[pci]` attribute (even one with errors).
fn has_device_attr(input: &DeriveInput) -> bool {
    input.attrs.iter().any(|attr| attr.path().is_ident("isa") || attr.path().is_ident("pci"))
}

/// The error for a second `#[name]` on the struct.
fn duplicate(attr: &Attribute, name: &str) -> Error {
    Error::new_spanned(attr, format!("duplicate #[{name}]: a driver has at most one"))
}

/// Reads a field and its resource attribute, if any.
fn field_def(field: &Field, errors: &mut Errors) -> FieldDef {
    let ident = field.ident.clone().expect("named fields have names");
    let mut first: Option<&Attribute> = None;
    let mut resource = None;
    for attr in &field.attrs {
        let Some(name) = attrs::name_of(attr) else { continue };
        if STRUCT_ATTRS.contains(&name.as_str()) {
            errors.push(Error::new_spanned(attr, format!("#[{name}] goes on the struct, not on a field")));
        } else if !FIELD_ATTRS.contains(&name.as_str()) {
            continue;
        } else if let Some(first) = first {
            let first = attrs::name_of(first).unwrap_or_default();
            let message = format!(
                "`{ident}` already has #[{first}]: a field holds one resource, so it takes one of \
                 #[ports], #[mmio], #[interrupt], #[dma] and #[dma_ring]"
            );
            errors.push(Error::new_spanned(attr, message));
        } else {
            first = Some(attr);
            resource = errors.ok(attrs::parse_resource(attr)).map(|resource| (resource, attr.clone()));
        }
    }
    FieldDef { ident, ty: field.ty.clone(), resource }
}

/// Each of the device's resources can be taken by one field only.
fn check_taken_once(fields: &[FieldDef], errors: &mut Errors) {
    let mut taken: Vec<(String, &Ident)> = Vec::new();
    for field in fields {
        let Some((resource, attr)) = &field.resource else { continue };
        let what = resource_name(resource);
        match taken.iter().find(|(name, _)| *name == what) {
            Some((_, owner)) => {
                let message =
                    format!("`{owner}` already takes the device's {what}: each resource goes to one field only");
                errors.push(Error::new_spanned(attr, message));
            }
            None => taken.push((what, &field.ident)),
        }
    }
}

/// The device resource a field attribute takes, for messages.
fn resource_name(resource: &Resource) -> String {
    match resource {
        Resource::Ports { .. } => "I/O ports".to_string(),
        Resource::Mmio { bar } => format!("MMIO BAR {bar}"),
        Resource::Interrupt { .. } => "interrupt".to_string(),
        // Both take the whole pool, so they share one name.
        Resource::Dma | Resource::DmaRing { .. } => {
            "DMA memory (#[dma] and #[dma_ring] take the whole pool)".to_string()
        }
    }
}

/// A `#[dma]` field needs `#[resources(dma = ..)]`; a `#[dma_ring]` needs room for all
/// its buffers in it.
fn check_dma(fields: &[FieldDef], resources: Option<&Resources>, errors: &mut Errors) {
    for field in fields {
        if let (Some((Resource::Dma, attr)), None) = (&field.resource, resources) {
            let message = format!(
                "`{}` takes the DMA pool, so the driver needs DMA memory: add `#[resources(dma = 65536)]` (the \
                 bytes it needs) to the struct",
                field.ident
            );
            errors.push(Error::new_spanned(attr, message));
        }
        let Some((Resource::DmaRing { size }, attr)) = &field.resource else { continue };
        let needed = size * DMA_RING_BUFFER_BYTES;
        match resources {
            None => {
                let message = format!(
                    "the DMA ring `{}` needs DMA memory: add `#[resources(dma = {needed})]` to the struct \
                     (at least size * {DMA_RING_BUFFER_BYTES} = {needed} bytes)",
                    field.ident
                );
                errors.push(Error::new_spanned(attr, message));
            }
            Some(resources) if resources.dma_bytes < needed => {
                let message = format!(
                    "{} bytes of DMA memory are too few for the DMA ring `{}`: its {size} buffers of \
                     {DMA_RING_BUFFER_BYTES} bytes need at least {needed}",
                    resources.dma_bytes, field.ident
                );
                errors.push(Error::new_spanned(&resources.dma_lit, message));
            }
            Some(_) => {}
        }
    }
}

/// The struct name in snake_case: `E1000Driver` is `e1000_driver`.
fn default_name(ident: &Ident) -> LitStr {
    LitStr::new(&ident.unraw().to_string().to_snake_case(), ident.span())
}
