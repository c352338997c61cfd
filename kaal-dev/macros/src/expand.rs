//! The generated code: the `Driver` impl and the driver's entry in `DRIVERS`.

use heck::ToShoutySnakeCase;
use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use crate::attrs::{DeviceMatch, Resource};
use crate::model::{DriverDef, FieldDef};

/// Everything `#[derive(Driver)]` generates.
pub(crate) fn expand(driver: &DriverDef) -> TokenStream {
    let driver_impl = driver_impl(driver);
    let registration = registration(driver);
    let declaration = declaration(driver);
    // The macro sizes DMA memory with its own copy of the ring buffer size; make the
    // build fail if it ever disagrees with kaal-dev's.
    let buffer_bytes = Literal::u64_unsuffixed(crate::model::DMA_RING_BUFFER_BYTES);
    let size_check =
        driver.fields.iter().any(|f| matches!(f.resource, Some((Resource::DmaRing { .. }, _)))).then(|| {
            quote! {
                const _: () = ::core::assert!(
                    ::kaal_dev::kit::DMA_RING_BUFFER_BYTES as u64 == #buffer_bytes,
                    "kaal-dev-macros and kaal-dev disagree on the DMA ring buffer size"
                );
            }
        });
    quote! {
        #driver_impl
        #registration
        #declaration
        #size_check
    }
}

/// The driver's declaration for the `kaal` tool: one line in the image's non-loaded
/// `.kaal_drivers` section saying which devices it drives and which of their resources
/// it takes, so that a component is granted only those (see `kaal_abi::drivers`).
fn declaration(driver: &DriverDef) -> TokenStream {
    let matches: Vec<String> = driver
        .matches
        .iter()
        .map(|m| match m {
            DeviceMatch::Fixed(name) => format!("isa:{name}"),
            DeviceMatch::Pci { vendor, device } => format!("pci:{vendor:04x}:{device:04x}"),
        })
        .collect();
    let has = |wanted: fn(&Resource) -> bool| {
        driver.fields.iter().any(|f| f.resource.as_ref().is_some_and(|(r, _)| wanted(r)))
    };
    let mmio: u8 = driver
        .fields
        .iter()
        .filter_map(|f| match &f.resource {
            Some((Resource::Mmio { bar }, _)) => Some(1u8 << bar),
            _ => None,
        })
        .fold(0, |a, b| a | b);
    let port_count = match port_count(driver) {
        Some(count) => format!(" portcount={count}"),
        None => String::new(),
    };
    let line = format!(
        "kaal-driver 1 name={} match={} ports={} irq={} mmio={mmio:#x}{port_count}\n",
        driver.name.value(),
        matches.join(","),
        has(|r| matches!(r, Resource::Ports { .. })) as u8,
        has(|r| matches!(r, Resource::Interrupt { .. })) as u8,
    );
    let bytes = syn::LitByteStr::new(line.as_bytes(), Span::call_site());
    let len = line.len();
    let ident = format_ident!("__KAAL_DRIVER_DECLARATION_{}", driver.ident.unraw().to_string().to_shouty_snake_case());
    quote! {
        #[used]
        #[link_section = ".kaal_drivers"]
        static #ident: [u8; #len] = *#bytes;
    }
}

/// `N` of the driver's `#[ports(count = N)]`, if it has one.
fn port_count(driver: &DriverDef) -> Option<u16> {
    driver.fields.iter().find_map(|f| match &f.resource {
        Some((Resource::Ports { count }, _)) => *count,
        _ => None,
    })
}

/// `impl kaal_dev::kit::Driver for ...`.
fn driver_impl(driver: &DriverDef) -> TokenStream {
    let DriverDef { ident, name, .. } = driver;
    let matches = driver.matches.iter().map(device_match);
    let dma_bytes = Literal::u64_unsuffixed(driver.dma_bytes);
    let field_inits = driver.fields.iter().map(field_init);
    let interrupt = interrupt_body(driver);
    let handle_interrupt = handle_interrupt_body(driver);
    let ports = match port_count(driver) {
        Some(count) => quote!(::core::option::Option::Some(#count)),
        None => quote!(::core::option::Option::None),
    };
    quote! {
        #[automatically_derived]
        impl ::kaal_dev::kit::Driver for #ident {
            const NAME: &'static str = #name;
            const MATCHES: &'static [::kaal_dev::DeviceMatch] = &[#(#matches),*];
            const RESOURCES: ::kaal_dev::kit::ResourceRequest =
                ::kaal_dev::kit::ResourceRequest { dma_bytes: #dma_bytes, ports: #ports };

            #[allow(unused_variables)]
            fn probe(
                device: &mut ::kaal_dev::DeviceBundle,
            ) -> ::core::result::Result<Self, ::kaal_dev::DriverError> {
                ::core::result::Result::Ok(Self { #(#field_inits),* })
            }

            fn interrupt(&self) -> ::core::option::Option<&::kaal_dev::Irq> {
                #interrupt
            }

            fn handle_interrupt(&mut self) -> ::core::result::Result<(), ::kaal_dev::DriverError> {
                #handle_interrupt
            }
        }
    }
}

/// One element of `MATCHES`.
fn device_match(device_match: &DeviceMatch) -> TokenStream {
    match device_match {
        DeviceMatch::Fixed(name) => {
            let name = name.to_string();
            quote!(::kaal_dev::DeviceMatch::Fixed(#name))
        }
        DeviceMatch::Pci { vendor, device } => {
            let vendor = Literal::u16_unsuffixed(*vendor);
            let device = Literal::u16_unsuffixed(*device);
            quote!(::kaal_dev::DeviceMatch::Pci { vendor: #vendor, device: #device })
        }
    }
}

/// `field: <how probe builds it>`.
fn field_init(field: &FieldDef) -> TokenStream {
    let ident = &field.ident;
    // Names resolve at the derive, but a type mismatch is reported at the field's type.
    let span = Span::call_site().located_at(field.ty.span());
    let value = match &field.resource {
        None => quote_spanned!(span=> ::core::default::Default::default()),
        Some((Resource::Ports { .. }, _)) => quote_spanned!(span=> device.take_ports()?),
        Some((Resource::Interrupt { .. }, _)) => quote_spanned!(span=> device.take_irq()?),
        Some((Resource::Mmio { bar }, _)) => {
            let bar = Literal::u8_unsuffixed(*bar);
            quote_spanned!(span=> device.take_mmio(#bar)?)
        }
        Some((Resource::Dma, _)) => quote_spanned!(span=> device.take_dma()?),
        Some((Resource::DmaRing { size }, _)) => {
            let size = Literal::u64_unsuffixed(*size);
            quote_spanned!(span=> device.take_dma_ring(#size)?)
        }
    };
    quote!(#ident: #value)
}

/// The `#[interrupt]` field and its handler method, if there is one.
fn interrupt_field(driver: &DriverDef) -> Option<(&FieldDef, &syn::Ident)> {
    driver.fields.iter().find_map(|field| match &field.resource {
        Some((Resource::Interrupt { handler }, _)) => Some((field, handler)),
        _ => None,
    })
}

/// The body of `interrupt`.
fn interrupt_body(driver: &DriverDef) -> TokenStream {
    match interrupt_field(driver) {
        Some((field, _)) => {
            let ident = &field.ident;
            quote!(::core::option::Option::Some(&self.#ident))
        }
        None => quote!(::core::option::Option::None),
    }
}

/// The body of `handle_interrupt`.
fn handle_interrupt_body(driver: &DriverDef) -> TokenStream {
    match interrupt_field(driver) {
        Some((_, handler)) => quote!(self.#handler()),
        None => quote!(::core::result::Result::Ok(())),
    }
}

/// The driver's entry in `kaal_dev::kit::DRIVERS`.
fn registration(driver: &DriverDef) -> TokenStream {
    let ident = &driver.ident;
    let static_ident = format_ident!("__KAAL_DRIVER_{}", ident.unraw().to_string().to_shouty_snake_case());
    quote! {
        #[::kaal_dev::__private::linkme::distributed_slice(::kaal_dev::kit::DRIVERS)]
        #[linkme(crate = ::kaal_dev::__private::linkme)]
        static #static_ident: ::kaal_dev::kit::DriverEntry = ::kaal_dev::kit::DriverEntry {
            name: <#ident as ::kaal_dev::kit::Driver>::NAME,
            matches: <#ident as ::kaal_dev::kit::Driver>::MATCHES,
        };
    }
}
