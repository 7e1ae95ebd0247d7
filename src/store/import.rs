//! Batched event import (in progress).
