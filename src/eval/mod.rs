//! (module placeholder)
